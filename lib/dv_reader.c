/* dv_reader: not yet written */

/* dv_row: not yet written */

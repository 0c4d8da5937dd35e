/* dv_parse: not yet written */

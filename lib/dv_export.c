/* dv_export: not yet written */

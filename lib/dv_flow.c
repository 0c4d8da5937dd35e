/* dv_flow: not yet written */

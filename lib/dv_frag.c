/* dv_frag: not yet written */

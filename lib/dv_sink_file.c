/* dv_sink_file: not yet written */

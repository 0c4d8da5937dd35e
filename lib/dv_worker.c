/* dv_worker: not yet written */

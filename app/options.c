/* options: not yet written */

/* control: not yet written */

/*
 * bq: builds the BigQuery sink's configuration from the options.
 */
#include <stdio.h>

#include "app.h"

struct dv_sink *dv_app_bq_sink(struct dv_app *app, char *err, size_t errlen)
{
	(void)app;
	snprintf(err, errlen, "--output bigquery: the BigQuery sink is not built in yet");
	return NULL;
}

/*
 * schema_json: prints the flow_logs table schema (BigQuery JSON, one field a
 * line, as "bq mk --schema" takes it) from lib/dv_columns.def through the
 * same function tables.insert uses. Run at build time to make the installed
 * flow_logs.schema.json, so the file cannot drift from the columns devourer
 * writes.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "dv_bq.h"

int main(void)
{
	json_t *schema = dv_bq_schema_json();
	json_t *fields = json_object_get(schema, "fields");
	size_t n = json_array_size(fields);

	if (n == 0)
		return 1;
	printf("[\n");
	for (size_t i = 0; i < n; i++) {
		char *line = json_dumps(json_array_get(fields, i), 0);

		if (line == NULL)
			return 1;
		printf("  %s%s\n", line, i + 1 < n ? "," : "");
		free(line);
	}
	printf("]\n");
	json_decref(schema);
	return fflush(stdout) != 0;
}

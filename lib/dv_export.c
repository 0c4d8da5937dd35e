/*
 * dv_export: helpers for the export record (the record itself is the
 * contract in dv_export.h). The names here are the values of the
 * `end_reason` column, so they must never change (README.md, "Rows").
 */
#include "dv_export.h"

static const char *const dv_end_reason_names[DV_END_MAX] = {
    [DV_END_IDLE] = "idle",	  [DV_END_ACTIVE] = "active",	  [DV_END_TCP_CLOSE] = "tcp_close",
    [DV_END_EVICTED] = "evicted", [DV_END_SHUTDOWN] = "shutdown", [DV_END_EOF] = "eof",
};

const char *dv_end_reason_name(unsigned int reason)
{
	if (reason >= DV_END_MAX)
		return "unknown";
	return dv_end_reason_names[reason];
}

const char *dv_export_server_name(const struct dv_export_rec *r)
{
	const struct dv_export_ctx *x = dv_export_ctx_of(r);

	if (r->flags & DV_EXPORT_F_CTX_INLINE)
		return (r->ctx_inline.has & DV_EXPORT_CTX_SN) ? r->ctx_inline.text : NULL;
	return x != NULL && (x->has & DV_EXPORT_CTX_SN) ? x->text : NULL;
}

const char *dv_export_dns_query(const struct dv_export_rec *r)
{
	const struct dv_export_ctx *x = dv_export_ctx_of(r);
	const struct dv_export_ctx_inline *y = &r->ctx_inline;

	if (r->flags & DV_EXPORT_F_CTX_INLINE)
		return (y->has & DV_EXPORT_CTX_QUERY) ? y->text + y->sn_len + 1 : NULL;
	return x != NULL && (x->has & DV_EXPORT_CTX_QUERY) ? x->text + x->sn_len + 1 : NULL;
}

int dv_export_dns_rcode(const struct dv_export_rec *r)
{
	const struct dv_export_ctx *x = dv_export_ctx_of(r);

	if (r->flags & DV_EXPORT_F_CTX_INLINE)
		return (r->ctx_inline.has & DV_EXPORT_CTX_RCODE) ? r->ctx_inline.rcode : -1;
	return x != NULL && (x->has & DV_EXPORT_CTX_RCODE) ? x->rcode : -1;
}

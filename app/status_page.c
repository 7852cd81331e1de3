/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * status_page.c: a struct status_view (status_int.h) as the status page
 * (HTML with today's curve as inline SVG: no script, nothing fetched,
 * one column on a phone), as JSON, and as the Prometheus text format
 * 0.0.4. Each string from the journal goes through the escape of where
 * it lands: a serial is attacker bytes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "omnik.h"
#include "status_int.h"

/* A string literal, without its NUL. */
#define ADD_LIT(b, lit) evbuffer_add((b), (lit), sizeof(lit) - 1)

/* ------------------------------------------------------------------ */
/* Escapes and numbers */

static void
put_html(struct evbuffer *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&': ADD_LIT(b, "&amp;"); break;
		case '<': ADD_LIT(b, "&lt;"); break;
		case '>': ADD_LIT(b, "&gt;"); break;
		case '"': ADD_LIT(b, "&quot;"); break;
		case '\'': ADD_LIT(b, "&#39;"); break;
		default:
			/* Control bytes have no business on a page. */
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				ADD_LIT(b, "?");
			else
				evbuffer_add(b, s, 1);
		}
	}
}

/* A JSON string, quotes included; bytes past ASCII as \u00XX. */
static void
put_json(struct evbuffer *b, const char *s)
{
	ADD_LIT(b, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			evbuffer_add_printf(b, "\\%c", c);
		else if (c < 0x20 || c >= 0x7f || c == '<' || c == '>' ||
		    c == '&')
			evbuffer_add_printf(b, "\\u%04x", c);
		else
			evbuffer_add(b, s, 1);
	}
	ADD_LIT(b, "\"");
}

/* A label value of the text format: backslash, quote, newline. */
static void
put_label(struct evbuffer *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			ADD_LIT(b, "\\n");
		else
			evbuffer_add(b, s, 1);
	}
}

/* A fixed-point value with its decimals: -12.3 from -123 and 1. */
static char *
fixed(char *buf, size_t n, int64_t v, int decimals)
{
	int64_t p = 1, a;

	/* The fields have 0 to 2; a bound the compiler can see. */
	decimals = decimals < 0 ? 0 : decimals > 6 ? 6 : decimals;
	for (int i = 0; i < decimals; i++)
		p *= 10;
	a = v < 0 ? -v : v;
	if (decimals == 0)
		snprintf(buf, n, "%" PRId64, v);
	else
		snprintf(buf, n, "%s%" PRId64 ".%0*" PRId64, v < 0 ? "-" : "",
		    a / p, decimals, a % p);
	return buf;
}

static char *
field(char *buf, size_t n, const struct omnik_reading *r, enum omnik_field f)
{
	return fixed(buf, n, r->value[f], omnik_fields[f].decimals);
}

static char *
kit_str(char *buf, size_t n, const struct omnik_reading *r)
{
	snprintf(buf, n, "%" PRIu32, r->kit_sn);
	return buf;
}

static void
fmt_time(time_t t, char *buf, size_t n)
{
	struct tm tm;

	if (t <= 0 || localtime_r(&t, &tm) == NULL ||
	    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, n, "never");
}

static void
fmt_age(time_t secs, char *buf, size_t n)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(buf, n, "%lld s ago", (long long)secs);
	else if (secs < 7200)
		snprintf(buf, n, "%lld min ago", (long long)secs / 60);
	else if (secs < 172800)
		snprintf(buf, n, "%lld h ago", (long long)secs / 3600);
	else
		snprintf(buf, n, "%lld days ago", (long long)secs / 86400);
}

/* ------------------------------------------------------------------ */
/* HTML */

#define SVG_W 960
#define SVG_H 300
#define SVG_TOP 20
#define SVG_BOTTOM 270

static const char style[] =
"body{font-family:sans-serif;margin:0 auto;max-width:60em;padding:0.5em;"
"color:#222;background:#fff}"
"h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}"
"section{border:1px solid #ccc;border-radius:6px;padding:0.5em 1em;"
"margin:1em 0}"
"dl{display:grid;grid-template-columns:max-content auto;gap:0.2em 1em}"
"dt{color:#555}dd{margin:0;font-weight:bold}"
"svg{width:100%;height:auto;background:#fafafa}"
"table{border-collapse:collapse;width:100%;font-size:0.9em}"
"td,th{border-bottom:1px solid #ddd;padding:0.25em;text-align:left;"
"vertical-align:top}.err{color:#a00}.num{text-align:right}"
"@media(max-width:40em){table{font-size:0.8em}}";

static void
curve(struct evbuffer *b, const struct status_view *v,
    const struct status_inverter *si)
{
	int64_t top = 100;

	for (int i = 0; i < si->npts; i++)
		if (si->pts[i].watts > top)
			top = si->pts[i].watts;
	/* A round scale: the next 100 W, 1 kW above the peak. */
	top = top <= 1000 ? (top + 99) / 100 * 100 :
	    (top + 999) / 1000 * 1000;
	evbuffer_add_printf(b, "<svg class=\"curve\" viewBox=\"0 0 %d %d\" "
	    "data-points=\"%d\" role=\"img\" aria-label=\"power today, "
	    "0 to %" PRId64 " W\" xmlns=\"http://www.w3.org/2000/svg\">\n",
	    SVG_W, SVG_H, si->npts, top);
	for (int h = 0; h <= 24; h += 3) {
		int x = h * SVG_W / 24;

		evbuffer_add_printf(b, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" "
		    "y2=\"%d\" stroke=\"#ddd\"/><text x=\"%d\" y=\"%d\" "
		    "font-size=\"14\" text-anchor=\"%s\">%02d:00</text>\n",
		    x, SVG_TOP, x, SVG_BOTTOM, x, SVG_H - 8,
		    h == 0 ? "start" : h == 24 ? "end" : "middle", h);
	}
	evbuffer_add_printf(b, "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
	    "stroke=\"#999\"/><text x=\"4\" y=\"%d\" font-size=\"14\">"
	    "%" PRId64 " W</text>\n", SVG_BOTTOM, SVG_W, SVG_BOTTOM,
	    SVG_TOP - 4, top);
	ADD_LIT(b, "<polyline class=\"power\" fill=\"none\" "
	    "stroke=\"#d60\" stroke-width=\"2\" points=\"");
	for (int i = 0; i < si->npts; i++) {
		double x = (double)(si->pts[i].t - v->midnight) * SVG_W / 86400;
		double y = SVG_BOTTOM - (double)si->pts[i].watts *
		    (SVG_BOTTOM - SVG_TOP) / (double)top;

		evbuffer_add_printf(b, "%s%.1f,%.1f", i ? " " : "", x, y);
	}
	ADD_LIT(b, "\"/>\n</svg>\n");
}

static void
html_inverter(struct evbuffer *b, const struct status_view *v,
    const struct status_inverter *si)
{
	const struct omnik_reading *r = &si->last.r;
	char n1[48], n2[48], t[32], age[32], lab[OMNIK_VARIANT_LABEL];

	ADD_LIT(b, "<section class=\"inverter\">\n<h2>Inverter ");
	put_html(b, r->inverter_sn);
	ADD_LIT(b, "</h2>\n<dl>\n");
	evbuffer_add_printf(b, "<dt>Power now</dt><dd class=\"power\">%s%s"
	    "</dd>\n", si->power == OMNIK_ABSENT ? "unknown" :
	    fixed(n1, sizeof(n1), si->power, 0),
	    si->power == OMNIK_ABSENT ? "" : " W");
	evbuffer_add_printf(b, "<dt>Today</dt><dd class=\"etoday\">%s%s</dd>\n",
	    si->etoday == OMNIK_ABSENT ? "no reading yet" :
	    fixed(n1, sizeof(n1), si->etoday,
	    omnik_fields[OMNIK_ETODAY].decimals),
	    si->etoday == OMNIK_ABSENT ? "" : " kWh");
	evbuffer_add_printf(b, "<dt>Total</dt><dd class=\"etotal\">%s%s</dd>\n",
	    si->etotal == OMNIK_ABSENT ? "unknown" :
	    fixed(n2, sizeof(n2), si->etotal,
	    omnik_fields[OMNIK_ETOTAL].decimals),
	    si->etotal == OMNIK_ABSENT ? "" : " kWh");
	fmt_time(si->last.when.tv_sec, t, sizeof(t));
	fmt_age(v->now - si->last.when.tv_sec, age, sizeof(age));
	evbuffer_add_printf(b, "<dt>Last reading</dt><dd class=\"age\">%s "
	    "(%s)</dd>\n", age, t);
	evbuffer_add_printf(b, "<dt>Kit</dt><dd class=\"kit\">%s</dd>\n",
	    kit_str(n1, sizeof(n1), r));
	ADD_LIT(b, "<dt>Variant</dt><dd class=\"variant\">");
	put_html(b, omnik_variant_label(r, lab));
	ADD_LIT(b, "</dd>\n");
	if (r->has_fw) {
		ADD_LIT(b, "<dt>Firmware</dt><dd class=\"fw\">");
		put_html(b, r->fw_main);
		ADD_LIT(b, " / ");
		put_html(b, r->fw_slave);
		ADD_LIT(b, "</dd>\n");
	}
	evbuffer_add_printf(b, "<dt>Readings today</dt><dd class=\"npts\">%d%s"
	    "</dd>\n</dl>\n", si->npts, si->cut ? " (the latest only)" : "");
	curve(b, v, si);
	ADD_LIT(b, "</section>\n");
}

static void
html_outputs(struct evbuffer *b, const struct status_view *v)
{
	char t1[32], t2[32];

	evbuffer_add_printf(b, "<h2>Outputs</h2>\n");
	if (v->nout == 0) {
		evbuffer_add_printf(b, "<p>No output follows the journal.</p>\n");
		return;
	}
	evbuffer_add_printf(b, "<table class=\"outputs\"><tr><th>Output</th>"
	    "<th class=\"num\">Backlog</th><th>Last success</th>"
	    "<th class=\"num\">Errors</th><th>Last error</th></tr>\n");
	for (int i = 0; i < v->nout; i++) {
		const struct output_status *o = &v->out[i];

		fmt_time(o->last_ok.tv_sec, t1, sizeof(t1));
		fmt_time(o->last_error_at.tv_sec, t2, sizeof(t2));
		ADD_LIT(b, "<tr><td>");
		put_html(b, o->name);
		evbuffer_add_printf(b, "%s</td><td class=\"num backlog\">%" PRId64
		    "</td><td>%s</td><td class=\"num\">%" PRIu64 "</td>"
		    "<td class=\"err\">", o->stopped ? " (stopped)" : "",
		    o->backlog, t1, o->errors);
		if (o->errors > 0 || o->last_error[0] != '\0') {
			evbuffer_add_printf(b, "%s: ", t2);
			put_html(b, o->last_error);
		}
		ADD_LIT(b, "</td></tr>\n");
	}
	ADD_LIT(b, "</table>\n");
}

static void
html_counters(struct evbuffer *b, const struct status_view *v)
{
	const struct program_counters *c = &v->pc;

	evbuffer_add_printf(b, "<h2>Counters</h2>\n<table class=\"counters\">"
	    "\n");
	if (v->has_counters) {
		evbuffer_add_printf(b,
		    "<tr><td>%s</td><td class=\"num\">%" PRIu64 "</td></tr>\n"
		    "<tr><td>Frames</td><td class=\"num\">%" PRIu64 "</td></tr>\n"
		    "<tr><td>Readings</td><td class=\"num\">%" PRIu64 "</td></tr>\n"
		    "<tr><td>Rejects</td><td class=\"num\">%" PRIu64 "</td></tr>\n"
		    "<tr><td>Bytes from kits</td><td class=\"num\">%" PRIu64
		    "</td></tr>\n<tr><td>Bytes to kits</td><td class=\"num\">%"
		    PRIu64 "</td></tr>\n", c->relay ? "Connections" :
		    "TCP flows", c->connections, c->frames, c->readings,
		    c->rejects, c->bytes_from_kit, c->bytes_to_kit);
		if (c->relay)
			evbuffer_add_printf(b, "<tr><td>Connections refused</td>"
			    "<td class=\"num\">%" PRIu64 "</td></tr>\n<tr><td>"
			    "Upstream failures</td><td class=\"num\">%" PRIu64
			    "</td></tr>\n", c->refused, c->upstream_failures);
	}
	for (int i = 0; i < v->nreasons; i++) {
		ADD_LIT(b, "<tr><td>Rejected: ");
		put_html(b, v->reasons[i].name);
		evbuffer_add_printf(b, "</td><td class=\"num\">%" PRIu64
		    "</td></tr>\n", v->reasons[i].count);
	}
	ADD_LIT(b, "</table>\n");
}

int
status_html(const struct status_view *v, struct evbuffer *b)
{
	char t[32];

	fmt_time(v->now, t, sizeof(t));
	evbuffer_add_printf(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n<meta name=\"viewport\" "
	    "content=\"width=device-width, initial-scale=1\">\n"
	    "<title>%s status</title>\n<style>%s</style>\n</head>\n<body>\n"
	    "<h1>%s %s</h1>\n<p>As of %s. This page does not refresh itself."
	    "</p>\n", v->program, style, v->program, v->version, t);
	if (!v->journal)
		evbuffer_add_printf(b, "<p>No journal ([omniklog] db is off): "
		    "no readings to show.</p>\n");
	if (v->journal_err[0] != '\0') {
		ADD_LIT(b, "<p class=\"err\">");
		put_html(b, v->journal_err);
		ADD_LIT(b, "</p>\n");
	}
	if (v->journal && v->ninv == 0)
		evbuffer_add_printf(b, "<p>No readings yet.</p>\n");
	for (int i = 0; i < v->ninv; i++)
		html_inverter(b, v, &v->inv[i]);
	html_outputs(b, v);
	html_counters(b, v);
	evbuffer_add_printf(b, "</body>\n</html>\n");
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON */

static void
json_num(struct evbuffer *b, const char *key, int64_t v, int decimals,
    bool comma)
{
	char n[48];

	evbuffer_add_printf(b, "%s\"%s\":%s", comma ? "," : "", key,
	    v == OMNIK_ABSENT ? "null" : fixed(n, sizeof(n), v, decimals));
}

static void
json_inverter(struct evbuffer *b, const struct status_view *v,
    const struct status_inverter *si)
{
	const struct omnik_reading *r = &si->last.r;
	char lab[OMNIK_VARIANT_LABEL];

	ADD_LIT(b, "{\"inverter_sn\":");
	put_json(b, r->inverter_sn);
	evbuffer_add_printf(b, ",\"kit_sn\":%" PRIu32 ",\"variant\":",
	    r->kit_sn);
	put_json(b, omnik_variant_label(r, lab));
	if (r->has_fw) {
		ADD_LIT(b, ",\"firmware_main\":");
		put_json(b, r->fw_main);
		ADD_LIT(b, ",\"firmware_slave\":");
		put_json(b, r->fw_slave);
	}
	json_num(b, "power_w", si->power, 0, true);
	json_num(b, "energy_today_kwh", si->etoday,
	    omnik_fields[OMNIK_ETODAY].decimals, true);
	json_num(b, "energy_total_kwh", si->etotal,
	    omnik_fields[OMNIK_ETOTAL].decimals, true);
	evbuffer_add_printf(b, ",\"last_reading\":%lld,\"last_reading_age_s\""
	    ":%lld,\"fields\":{", (long long)si->last.when.tv_sec,
	    (long long)(v->now - si->last.when.tv_sec));
	for (int f = 0, k = 0; f < OMNIK_NFIELDS; f++)
		if (r->value[f] != OMNIK_ABSENT)
			json_num(b, omnik_fields[f].name, r->value[f],
			    omnik_fields[f].decimals, k++ > 0);
	evbuffer_add_printf(b, "},\"readings_today\":%d,\"curve_cut\":%s,"
	    "\"curve\":[", si->npts, si->cut ? "true" : "false");
	for (int i = 0; i < si->npts; i++)
		evbuffer_add_printf(b, "%s[%lld,%" PRId64 "]", i ? "," : "",
		    (long long)si->pts[i].t, si->pts[i].watts);
	ADD_LIT(b, "]}");
}

int
status_json(const struct status_view *v, struct evbuffer *b)
{
	const struct program_counters *c = &v->pc;

	ADD_LIT(b, "{\"program\":");
	put_json(b, v->program);
	ADD_LIT(b, ",\"version\":");
	put_json(b, v->version);
	evbuffer_add_printf(b, ",\"time\":%lld,\"day_start\":%lld,"
	    "\"journal\":%s,\"journal_error\":", (long long)v->now,
	    (long long)v->midnight, v->journal ? "true" : "false");
	if (v->journal_err[0] != '\0')
		put_json(b, v->journal_err);
	else
		ADD_LIT(b, "null");
	ADD_LIT(b, ",\"inverters\":[");
	for (int i = 0; i < v->ninv; i++) {
		if (i > 0)
			ADD_LIT(b, ",");
		json_inverter(b, v, &v->inv[i]);
	}
	ADD_LIT(b, "],\"outputs\":[");
	for (int i = 0; i < v->nout; i++) {
		const struct output_status *o = &v->out[i];

		if (i > 0)
			ADD_LIT(b, ",");
		ADD_LIT(b, "{\"name\":");
		put_json(b, o->name);
		evbuffer_add_printf(b, ",\"backlog\":%" PRId64 ",\"delivered\":%"
		    PRIu64 ",\"last_success\":%lld,\"errors\":%" PRIu64
		    ",\"last_error_time\":%lld,\"stopped\":%s,\"last_error\":",
		    o->backlog, o->delivered, (long long)o->last_ok.tv_sec,
		    o->errors, (long long)o->last_error_at.tv_sec,
		    o->stopped ? "true" : "false");
		put_json(b, o->last_error);
		ADD_LIT(b, "}");
	}
	ADD_LIT(b, "],\"counters\":");
	if (v->has_counters)
		evbuffer_add_printf(b, "{\"connections\":%" PRIu64 ",\"refused\":%"
		    PRIu64 ",\"frames\":%" PRIu64 ",\"readings\":%" PRIu64
		    ",\"rejects\":%" PRIu64 ",\"bytes_from_kit\":%" PRIu64
		    ",\"bytes_to_kit\":%" PRIu64 ",\"upstream_failures\":%"
		    PRIu64 "}", c->connections, c->refused, c->frames,
		    c->readings, c->rejects, c->bytes_from_kit,
		    c->bytes_to_kit, c->upstream_failures);
	else
		ADD_LIT(b, "null");
	ADD_LIT(b, ",\"rejects_by_reason\":{");
	for (int i = 0; i < v->nreasons; i++) {
		if (i > 0)
			ADD_LIT(b, ",");
		put_json(b, v->reasons[i].name);
		evbuffer_add_printf(b, ":%" PRIu64, v->reasons[i].count);
	}
	ADD_LIT(b, "}}\n");
	return 0;
}

/* ------------------------------------------------------------------ */
/* Prometheus text format 0.0.4 */

static void
family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
inv_labels(struct evbuffer *b, const struct omnik_reading *r)
{
	char k[16];

	ADD_LIT(b, "{inverter_sn=\"");
	put_label(b, r->inverter_sn);
	evbuffer_add_printf(b, "\",kit_sn=\"%s\"", kit_str(k, sizeof(k), r));
}

/* A gauge per phase or string (label), or one (label NULL). */
struct metric_fields {
	const char *name, *help, *label;
	enum omnik_field f[3];
	int n;
};

static const struct metric_fields per_inverter[] = {
	{ "omnik_inverter_ac_voltage_volts", "AC voltage of a phase.",
	  "phase", { OMNIK_VAC1, OMNIK_VAC2, OMNIK_VAC3 }, 3 },
	{ "omnik_inverter_ac_current_amperes", "AC current of a phase.",
	  "phase", { OMNIK_IAC1, OMNIK_IAC2, OMNIK_IAC3 }, 3 },
	{ "omnik_inverter_ac_frequency_hertz", "AC frequency of a phase.",
	  "phase", { OMNIK_FAC1, OMNIK_FAC2, OMNIK_FAC3 }, 3 },
	{ "omnik_inverter_ac_power_watts", "AC power of a phase.",
	  "phase", { OMNIK_PAC1, OMNIK_PAC2, OMNIK_PAC3 }, 3 },
	{ "omnik_inverter_pv_voltage_volts", "DC voltage of a PV string.",
	  "string", { OMNIK_VPV1, OMNIK_VPV2, OMNIK_VPV3 }, 3 },
	{ "omnik_inverter_pv_current_amperes", "DC current of a PV string.",
	  "string", { OMNIK_IPV1, OMNIK_IPV2, OMNIK_IPV3 }, 3 },
	{ "omnik_inverter_temperature_celsius", "Inverter temperature.",
	  NULL, { OMNIK_TEMP }, 1 },
};

static void
metrics_inverters(const struct status_view *v, struct evbuffer *b)
{
	char n[48];

	for (size_t m = 0; m < sizeof(per_inverter) / sizeof(per_inverter[0]);
	    m++) {
		const struct metric_fields *mf = &per_inverter[m];

		family(b, mf->name, "gauge", mf->help);
		for (int i = 0; i < v->ninv; i++) {
			const struct omnik_reading *r = &v->inv[i].last.r;

			for (int k = 0; k < mf->n; k++) {
				if (r->value[mf->f[k]] == OMNIK_ABSENT)
					continue;
				evbuffer_add(b, mf->name, strlen(mf->name));
				inv_labels(b, r);
				if (mf->label)
					evbuffer_add_printf(b, ",%s=\"%d\"",
					    mf->label, k + 1);
				evbuffer_add_printf(b, "} %s\n", field(n,
				    sizeof(n), r, mf->f[k]));
			}
		}
	}
	family(b, "omnik_inverter_power_watts", "gauge",
	    "AC power, all phases.");
	for (int i = 0; i < v->ninv; i++)
		if (v->inv[i].power != OMNIK_ABSENT) {
			ADD_LIT(b, "omnik_inverter_power_watts");
			inv_labels(b, &v->inv[i].last.r);
			evbuffer_add_printf(b, "} %" PRId64 "\n", v->inv[i].power);
		}
	family(b, "omnik_inverter_energy_today_kwh", "gauge",
	    "Energy made today (the inverter's day), from today's readings.");
	for (int i = 0; i < v->ninv; i++)
		if (v->inv[i].etoday != OMNIK_ABSENT) {
			ADD_LIT(b, "omnik_inverter_energy_today_kwh");
			inv_labels(b, &v->inv[i].last.r);
			evbuffer_add_printf(b, "} %s\n", fixed(n, sizeof(n),
			    v->inv[i].etoday,
			    omnik_fields[OMNIK_ETODAY].decimals));
		}
	family(b, "omnik_inverter_energy_kwh_total", "counter",
	    "Energy made over the inverter's life (the last good total).");
	for (int i = 0; i < v->ninv; i++)
		if (v->inv[i].etotal != OMNIK_ABSENT) {
			ADD_LIT(b, "omnik_inverter_energy_kwh_total");
			inv_labels(b, &v->inv[i].last.r);
			evbuffer_add_printf(b, "} %s\n", fixed(n, sizeof(n),
			    v->inv[i].etotal,
			    omnik_fields[OMNIK_ETOTAL].decimals));
		}
	family(b, "omnik_inverter_operating_seconds_total", "counter",
	    "Hours the inverter has run, in seconds.");
	for (int i = 0; i < v->ninv; i++) {
		const struct omnik_reading *r = &v->inv[i].last.r;

		if (r->value[OMNIK_HTOTAL] == OMNIK_ABSENT)
			continue;
		ADD_LIT(b, "omnik_inverter_operating_seconds_total");
		inv_labels(b, r);
		evbuffer_add_printf(b, "} %" PRId64 "\n",
		    r->value[OMNIK_HTOTAL] * 3600);
	}
	family(b, "omnik_inverter_last_reading_timestamp_seconds", "gauge",
	    "When the latest reading was taken.");
	for (int i = 0; i < v->ninv; i++) {
		const struct journal_row *row = &v->inv[i].last;

		ADD_LIT(b, "omnik_inverter_last_reading_timestamp_seconds");
		inv_labels(b, &row->r);
		evbuffer_add_printf(b, "} %lld.%06ld\n",
		    (long long)row->when.tv_sec, (long)row->when.tv_usec);
	}
	family(b, "omnik_inverter_info", "gauge",
	    "The inverter's layout and firmware, as labels.");
	for (int i = 0; i < v->ninv; i++) {
		const struct omnik_reading *r = &v->inv[i].last.r;
		char lab[OMNIK_VARIANT_LABEL];

		ADD_LIT(b, "omnik_inverter_info");
		inv_labels(b, r);
		ADD_LIT(b, ",variant=\"");
		put_label(b, omnik_variant_label(r, lab));
		ADD_LIT(b, "\",firmware_main=\"");
		put_label(b, r->has_fw ? r->fw_main : "");
		ADD_LIT(b, "\",firmware_slave=\"");
		put_label(b, r->has_fw ? r->fw_slave : "");
		ADD_LIT(b, "\"} 1\n");
	}
}

static void
counter(struct evbuffer *b, const char *name, const char *help,
    uint64_t value)
{
	family(b, name, "counter", help);
	evbuffer_add_printf(b, "%s %" PRIu64 "\n", name, value);
}

static void
metrics_program(const struct status_view *v, struct evbuffer *b)
{
	const struct program_counters *c = &v->pc;

	family(b, "omnik_build_info", "gauge", "The program and its version.");
	evbuffer_add_printf(b, "omnik_build_info{program=\"");
	put_label(b, v->program);
	ADD_LIT(b, "\",version=\"");
	put_label(b, v->version);
	ADD_LIT(b, "\"} 1\n");
	if (v->has_counters) {
		counter(b, "omnik_connections_total", c->relay ?
		    "Kit connections accepted." : "TCP flows followed.",
		    c->connections);
		counter(b, "omnik_frames_total", "Whole frames from kits.",
		    c->frames);
		counter(b, "omnik_readings_total", "Frames decoded as readings.",
		    c->readings);
		family(b, "omnik_stream_bytes_total", "counter",
		    "Stream bytes seen, by direction.");
		evbuffer_add_printf(b, "omnik_stream_bytes_total{direction="
		    "\"from_kit\"} %" PRIu64 "\nomnik_stream_bytes_total{"
		    "direction=\"to_kit\"} %" PRIu64 "\n", c->bytes_from_kit,
		    c->bytes_to_kit);
		if (c->relay) {
			counter(b, "omnik_connections_refused_total",
			    "Kit connections refused (clients, limits).",
			    c->refused);
			counter(b, "omnik_upstream_failures_total",
			    "Portal connections that failed.",
			    c->upstream_failures);
		}
	}
	family(b, "omnik_rejects_total", "counter",
	    "Frames kept raw instead of a reading, by reason.");
	for (int i = 0; i < v->nreasons; i++) {
		ADD_LIT(b, "omnik_rejects_total{reason=\"");
		put_label(b, v->reasons[i].name);
		evbuffer_add_printf(b, "\"} %" PRIu64 "\n", v->reasons[i].count);
	}
}

static void
metrics_outputs(const struct status_view *v, struct evbuffer *b)
{
	static const char *const names[] = {
		"omnik_output_backlog_readings",
		"omnik_output_delivered_readings_total",
		"omnik_output_last_success_timestamp_seconds",
		"omnik_output_errors_total",
		"omnik_output_stopped",
	};
	static const char *const types[] = {
		"gauge", "counter", "gauge", "counter", "gauge",
	};
	static const char *const helps[] = {
		"Journal readings not yet delivered.",
		"Readings delivered since the start.",
		"When readings were last delivered (0: not yet).",
		"Failed delivery attempts since the start.",
		"1 if stopped by a configuration error.",
	};

	for (int m = 0; m < 5; m++) {
		family(b, names[m], types[m], helps[m]);
		for (int i = 0; i < v->nout; i++) {
			const struct output_status *o = &v->out[i];
			int64_t val[5] = { o->backlog, (int64_t)o->delivered,
			    (int64_t)o->last_ok.tv_sec, (int64_t)o->errors,
			    o->stopped };

			evbuffer_add_printf(b, "%s{output=\"", names[m]);
			put_label(b, o->name);
			evbuffer_add_printf(b, "\"} %" PRId64 "\n", val[m]);
		}
	}
}

int
status_metrics(const struct status_view *v, struct evbuffer *b)
{
	family(b, "omnik_journal_read_ok", "gauge",
	    "1 if the journal could be read for this scrape.");
	evbuffer_add_printf(b, "omnik_journal_read_ok %d\n",
	    v->journal && v->journal_err[0] == '\0');
	metrics_inverters(v, b);
	metrics_program(v, b);
	metrics_outputs(v, b);
	return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal_read.c: the journal's readers, on the caller's connection. It
 * sees only committed rows (WAL snapshot) and, while a batch of
 * journal_begin() is open, none of the batch's (journal_visible), so a
 * delivery never sends a row a crash could take back.
 */
#include <ctype.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "journal_int.h"

int
journal_fetch(struct journal *j, int64_t after, const char *inverter,
    struct journal_row *rows, int max, int *n, const char **err)
{
	sqlite3_stmt *st;
	int b = 1, rc = SQLITE_DONE;

	*n = 0;
	if (j->lost)
		return journal_lost_fail(j, err);
	if (jconn_fetch_stmt(&j->c, inverter != NULL, &st) != 0)
		return jconn_fail(&j->c, "reading readings", err);
	if (inverter)
		sqlite3_bind_text(st, b++, inverter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, b++, after);
	sqlite3_bind_int64(st, b++, journal_visible(j));
	sqlite3_bind_int(st, b, max);
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		jconn_read_row(st, &rows[(*n)++]);
	if (*n < max && rc != SQLITE_DONE) {
		sqlite3_reset(st);
		return jconn_fail(&j->c, "reading readings", err);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

int64_t
journal_last_id(struct journal *j, const char *inverter)
{
	if (j->lost)
		return 0;
	return jconn_last_id(&j->c, inverter, journal_visible(j));
}

static void
bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int
journal_cursor_get(struct journal *j, const char *name, const char *inverter,
    int64_t initial, int64_t *pos, const char **err)
{
	struct jconn *c = &j->c;
	int rc;

	if (j->lost)
		return journal_lost_fail(j, err);
	sqlite3_bind_text(c->cur_ins, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(c->cur_ins, 2, initial);
	bind_text_or_null(c->cur_ins, 3, inverter);
	rc = sqlite3_step(c->cur_ins);
	sqlite3_reset(c->cur_ins);
	if (rc != SQLITE_DONE)
		return jconn_fail(c, "creating a cursor", err);
	/* In use (again), perhaps for another inverter than before. */
	sqlite3_bind_text(c->cur_act, 1, name, -1, SQLITE_STATIC);
	bind_text_or_null(c->cur_act, 2, inverter);
	rc = sqlite3_step(c->cur_act);
	sqlite3_reset(c->cur_act);
	if (rc != SQLITE_DONE)
		return jconn_fail(c, "updating a cursor", err);
	sqlite3_bind_text(c->cur_get, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(c->cur_get);
	if (rc == SQLITE_ROW)
		*pos = sqlite3_column_int64(c->cur_get, 0);
	sqlite3_reset(c->cur_get);
	return rc == SQLITE_ROW ? 0 : jconn_fail(c, "reading a cursor", err);
}

int
journal_cursors_retire(struct journal *j, const char *const *keep, int n,
    char *retired, size_t len, const char **err)
{
	struct jconn *c = &j->c;
	sqlite3_stmt *sel, *off;
	size_t used = 0;
	int rc, count = 0;

	if (len > 0)
		retired[0] = '\0';
	if (j->lost)
		return journal_lost_fail(j, err);
	if (sqlite3_prepare_v2(c->db, "SELECT name FROM cursors WHERE active",
	    -1, &sel, NULL) != SQLITE_OK)
		return jconn_fail(c, "listing cursors", err);
	if (sqlite3_prepare_v2(c->db, "UPDATE cursors SET active = 0 WHERE "
	    "name = ?", -1, &off, NULL) != SQLITE_OK) {
		sqlite3_finalize(sel);
		return jconn_fail(c, "listing cursors", err);
	}
	while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(sel, 0);
		bool kept = false;

		for (int i = 0; i < n && !kept && name; i++)
			kept = strcmp(keep[i], name) == 0;
		if (kept || name == NULL)
			continue;
		sqlite3_bind_text(off, 1, name, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(off);
		sqlite3_reset(off);
		if (rc != SQLITE_DONE)
			break;
		if (used < len)
			used += (size_t)snprintf(retired + used, len - used,
			    "%s%s", count > 0 ? ", " : "", name);
		count++;
		rc = SQLITE_ROW;
	}
	sqlite3_finalize(off);
	sqlite3_finalize(sel);
	if (rc != SQLITE_DONE)
		return jconn_fail(c, "retiring cursors", err);
	return count;
}

int
journal_cursor_peek(struct journal *j, const char *name, int64_t *pos,
    bool *active, const char **err)
{
	sqlite3_stmt *st;
	int rc;

	if (j->lost)
		return journal_lost_fail(j, err);
	if (sqlite3_prepare_v2(j->c.db, "SELECT position, active FROM "
	    "cursors WHERE name = ?", -1, &st, NULL) != SQLITE_OK)
		return jconn_fail(&j->c, "reading a cursor", err);
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*pos = sqlite3_column_int64(st, 0);
		*active = sqlite3_column_int(st, 1) != 0;
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : jconn_fail(&j->c, "reading a cursor",
	    err);
}

/*
 * For an output that shows each inverter's latest state (MQTT) after a
 * restart. Rare calls (start-up), so the statements are prepared here
 * and not kept.
 */
int
journal_inverters(struct journal *j, int64_t upto,
    struct journal_inverter *inv, int max, int *n, const char **err)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	/* A status page asks at any time, a lost journal's too. */
	if (j->lost)
		return journal_lost_fail(j, err);
	if (upto > journal_visible(j))
		upto = journal_visible(j);
	if (sqlite3_prepare_v2(j->c.db, "SELECT inverter_sn, max(id) AS m "
	    "FROM readings WHERE id <= ?1 GROUP BY inverter_sn ORDER BY m "
	    "DESC LIMIT ?2", -1, &st, NULL) != SQLITE_OK)
		return jconn_fail(&j->c, "listing inverters", err);
	sqlite3_bind_int64(st, 1, upto);
	sqlite3_bind_int(st, 2, max);
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		jconn_column_text(st, 0, inv[*n].sn, sizeof(inv[*n].sn));
		inv[*n].last_id = sqlite3_column_int64(st, 1);
		(*n)++;
	}
	if (*n < max && rc != SQLITE_DONE) {
		jconn_fail(&j->c, "listing inverters", err);
		sqlite3_finalize(st);
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

int
journal_last_positive(struct journal *j, const char *inverter,
    enum omnik_field f, int64_t upto, int64_t *value, const char **err)
{
	char sql[200], col[16];
	sqlite3_stmt *st;
	size_t k;
	int rc;

	*value = OMNIK_ABSENT;
	if ((int)f < 0 || f >= OMNIK_NFIELDS)
		return 0;
	if (j->lost)
		return journal_lost_fail(j, err);
	for (k = 0; omnik_fields[f].name[k] && k < sizeof(col) - 1; k++)
		col[k] = (char)tolower((unsigned char)omnik_fields[f].name[k]);
	col[k] = '\0';
	if (upto > journal_visible(j))
		upto = journal_visible(j);
	snprintf(sql, sizeof(sql), "SELECT %s FROM readings WHERE "
	    "inverter_sn = ?1 AND id <= ?2 AND %s > 0 ORDER BY id DESC "
	    "LIMIT 1", col, col);
	if (sqlite3_prepare_v2(j->c.db, sql, -1, &st, NULL) != SQLITE_OK)
		return jconn_fail(&j->c, "reading a total", err);
	sqlite3_bind_text(st, 1, inverter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, upto);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*value = (int64_t)llround(sqlite3_column_double(st, 0) *
		    jconn_pow10(omnik_fields[f].decimals));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return jconn_fail(&j->c, "reading a total", err);
	return 0;
}

int
journal_since(struct journal *j, const char *inverter, time_t from,
    struct journal_row *rows, int max, int *n, const char **err)
{
	sqlite3_stmt *st;
	int rc = SQLITE_DONE;

	*n = 0;
	if (j->lost)
		return journal_lost_fail(j, err);
	/* Rare (a page view, cached), so prepared here and not kept. */
	if (sqlite3_prepare_v2(j->c.db, "SELECT * FROM (SELECT " FETCH_COLS
	    " FROM readings WHERE inverter_sn = ?1 AND id <= ?2 ORDER BY id "
	    "DESC LIMIT ?3) WHERE usec >= ?4 ORDER BY usec, id", -1, &st,
	    NULL) != SQLITE_OK)
		return jconn_fail(&j->c, "reading a day", err);
	sqlite3_bind_text(st, 1, inverter, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, journal_visible(j));
	sqlite3_bind_int(st, 3, max);
	sqlite3_bind_int64(st, 4, (int64_t)from * 1000000);
	while (*n < max && (rc = sqlite3_step(st)) == SQLITE_ROW)
		jconn_read_row(st, &rows[(*n)++]);
	sqlite3_finalize(st);
	if (*n < max && rc != SQLITE_DONE)
		return jconn_fail(&j->c, "reading a day", err);
	return 0;
}

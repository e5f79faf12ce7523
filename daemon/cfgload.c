/* daemon/cfgload.c — YAML configuration (libyaml events -> a small node tree
 * with positions -> struct sg_config), ${ENV} substitution, secret key files,
 * and `sessiongate -t`. Every error is "FILE:LINE:COLUMN: what was expected". */
#include "cfgload.h"
#include "signer.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "errors.h"
#include "log.h"
#include "sg_limits.h"

#define UINT_MAX_ (~0U)

enum ytype { Y_SCALAR, Y_SEQ, Y_MAP };

/* A YAML node with its position; mappings hold key, value, key, value... */
struct ynode {
	enum ytype type;
	bool plain;	  /* unquoted scalar: "", "~" and "null" mean "not set" */
	size_t line, col; /* 1-based */
	char *val;	  /* scalar bytes, NUL-terminated */
	size_t len;
	struct ynode **kids;
	size_t n, cap;
};

struct ld {
	const char *name;
	const char *dir; /* relative key file paths resolve against it; NULL: the cwd */
	char *err;
	size_t errlen;
	struct sg_config *cfg;
	struct ynode *root; /* a mapping (possibly empty) */
};

/* ---- errors ---- */

static int errat(struct ld *l, const struct ynode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int errat(struct ld *l, const struct ynode *at, const char *fmt, ...)
{
	if (l->err && l->errlen) {
		int off = snprintf(l->err, l->errlen, "%s:%zu:%zu: ", l->name, at ? at->line : 1,
				   at ? at->col : 1);
		if (off >= 0 && (size_t)off < l->errlen) {
			va_list ap;
			va_start(ap, fmt);
			vsnprintf(l->err + off, l->errlen - (size_t)off, fmt, ap);
			va_end(ap);
		}
	}
	return SG_EINVAL;
}

/* A value quoted for a message: printable, short, never a raw control byte. */
static const char *q(const char *s, size_t len, char *buf, size_t cap)
{
	size_t o = 0;
	buf[o++] = '"';
	for (size_t i = 0; i < len && o + 8 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == 60) {
			o += (size_t)snprintf(buf + o, cap - o, "...");
			break;
		}
		if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
		else
			buf[o++] = (char)c;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
#define QBUF 128

/* ---- node tree from libyaml events ---- */

static void ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	free(n->val);
	free(n);
}

static int ynode_add(struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct ynode **k = realloc(parent->kids, cap * sizeof(*k));
		if (!k)
			return SG_ENOMEM;
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

static int yaml_error(struct ld *l, yaml_parser_t *p, const char *buf, size_t len)
{
	yaml_mark_t m = p->problem_mark;
	struct ynode at = {.line = m.line + 1, .col = m.column + 1};
	if (p->error == YAML_READER_ERROR) {
		/* reader errors (bad UTF-8, control bytes) only carry a byte offset */
		at.line = at.col = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (buf[i] == '\n')
				at.line++, at.col = 1;
			else if (((unsigned char)buf[i] & 0xc0) != 0x80)
				at.col++;
		}
	}
	const char *problem = p->problem ? p->problem : "syntax error";
	if (p->error == YAML_MEMORY_ERROR)
		return errat(l, &at, "out of memory"), SG_ENOMEM;
	if (p->context)
		return errat(l, &at, "invalid YAML: %s %s", problem, p->context);
	return errat(l, &at, "invalid YAML: %s", problem);
}

static int parse_tree(struct ld *l, const char *buf, size_t len)
{
	yaml_parser_t p;
	if (!yaml_parser_initialize(&p))
		return SG_ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	struct ynode *stack[SG_CONFIG_MAX_DEPTH];
	size_t depth = 0, nodes = 0, docs = 0;
	struct ynode *root = NULL;
	int rc = 0;
	bool done = false;
	while (!done && rc == 0) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			rc = yaml_error(l, &p, buf, len);
			break;
		}
		struct ynode at = {.line = ev.start_mark.line + 1, .col = ev.start_mark.column + 1};
		struct ynode *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT: done = true; break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = errat(l, &at,
					   "expected a single YAML document, got a second one");
			break;
		case YAML_ALIAS_EVENT:
			/* never expanded: no alias bombs, and the config reads as written */
			rc = errat(l, &at,
				   "YAML aliases (*%s) are not supported; write the value out",
				   (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++nodes > SG_CONFIG_MAX_NODES) {
				rc = errat(l, &at, "too many YAML nodes (more than %d)",
					   SG_CONFIG_MAX_NODES);
				break;
			}
			if (!(n = calloc(1, sizeof(*n)))) {
				rc = SG_ENOMEM;
				break;
			}
			n->line = at.line;
			n->col = at.col;
			if (ev.type == YAML_SCALAR_EVENT) {
				n->type = Y_SCALAR;
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
				n->len = ev.data.scalar.length;
				n->val = malloc(n->len + 1);
				if (!n->val) {
					free(n);
					rc = SG_ENOMEM;
					break;
				}
				memcpy(n->val, ev.data.scalar.value, n->len);
				n->val[n->len] = '\0';
			} else {
				n->type = ev.type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP;
			}
			if (depth == 0) {
				root = n;
			} else if ((rc = ynode_add(stack[depth - 1], n)) != 0) {
				ynode_free(n);
				break;
			}
			if (n->type != Y_SCALAR) {
				if (depth == SG_CONFIG_MAX_DEPTH) {
					rc = errat(l, &at,
						   "YAML nested too deeply (more than %d levels)",
						   SG_CONFIG_MAX_DEPTH);
					break;
				}
				stack[depth++] = n;
			}
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth)
				depth--;
			break;
		default: break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (rc) {
		ynode_free(root);
		return rc;
	}
	if (!root) { /* empty file: an empty mapping, so "listen is required" is reported */
		if (!(root = calloc(1, sizeof(*root))))
			return SG_ENOMEM;
		root->type = Y_MAP;
		root->line = root->col = 1;
	}
	if (root->type != Y_MAP) {
		struct ynode at = *root;
		ynode_free(root);
		return errat(l, &at,
			     "expected a mapping of settings (listen:, backends:, ...) at "
			     "the top of the file");
	}
	l->root = root;
	return 0;
}

/* ---- ${ENV} substitution ---- */

static int buf_put(char **b, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > *cap) {
		size_t c = *cap ? *cap : 64;
		while (c < *len + n + 1)
			c *= 2;
		if (c > SG_CONFIG_MAX_BYTES)
			return SG_ETOOBIG;
		char *nb = realloc(*b, c);
		if (!nb)
			return SG_ENOMEM;
		*b = nb;
		*cap = c;
	}
	memcpy(*b + *len, s, n);
	*len += n;
	(*b)[*len] = '\0';
	return 0;
}

/* Expands ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message},
 * ${NAME?message} and $$ in a scalar, as Docker Compose does. */
static int expand(struct ld *l, const struct ynode *n, char **ret, size_t *ret_len)
{
	char *out = NULL;
	size_t len = 0, cap = 0;
	const char *s = n->val, *end = n->val + n->len;
	int rc = buf_put(&out, &len, &cap, "", 0);
	char qb[QBUF];
	while (rc == 0 && s < end) {
		const char *dollar = memchr(s, '$', (size_t)(end - s));
		if (!dollar) {
			rc = buf_put(&out, &len, &cap, s, (size_t)(end - s));
			break;
		}
		if ((rc = buf_put(&out, &len, &cap, s, (size_t)(dollar - s))))
			break;
		s = dollar + 1;
		if (s < end && *s == '$') { /* "$$" -> "$" */
			rc = buf_put(&out, &len, &cap, "$", 1);
			s++;
			continue;
		}
		if (s >= end || *s != '{') { /* a lone '$' is literal */
			rc = buf_put(&out, &len, &cap, "$", 1);
			continue;
		}
		const char *close = memchr(s, '}', (size_t)(end - s));
		if (!close) {
			rc = errat(l, n, "unterminated ${ in %s (write $$ for a literal $)",
				   q(n->val, n->len, qb, sizeof(qb)));
			break;
		}
		const char *name = s + 1, *p = name;
		while (p < close &&
		       (*p == '_' || (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			(p > name && *p >= '0' && *p <= '9')))
			p++;
		size_t nlen = (size_t)(p - name);
		bool colon = p < close && *p == ':';
		const char *op = colon ? p + 1 : p;
		char kind = op < close ? *op : '\0'; /* '\0', '-' or '?' */
		if (nlen == 0 || (kind != '\0' && kind != '-' && kind != '?') ||
		    (colon && kind == '\0') || (kind == '\0' && op != close)) {
			rc = errat(
			    l, n, "bad variable reference %s: expected ${NAME} or ${NAME:-default}",
			    q(dollar, (size_t)(close - dollar) + 1, qb, sizeof(qb)));
			break;
		}
		char var[256];
		if (nlen >= sizeof(var)) {
			rc = errat(l, n, "variable name too long in %s",
				   q(n->val, n->len, qb, sizeof(qb)));
			break;
		}
		memcpy(var, name, nlen);
		var[nlen] = '\0';
		const char *val = getenv(var);
		bool use = val && (!colon || *val); /* ":-" also replaces an empty value */
		const char *word = op + 1;
		size_t wlen = kind ? (size_t)(close - word) : 0;
		if (use) {
			rc = buf_put(&out, &len, &cap, val, strlen(val));
		} else if (kind == '-') {
			rc = buf_put(&out, &len, &cap, word, wlen);
		} else if (kind == '?') {
			rc = errat(l, n, "environment variable %s is %s: %.*s", var,
				   val ? "empty" : "not set", (int)(wlen > 200 ? 200 : wlen), word);
		} else {
			rc = errat(
			    l, n,
			    "environment variable %s is not set (use ${%s:-default} for a default)",
			    var, var);
		}
		s = close + 1;
	}
	if (rc == SG_ETOOBIG)
		rc = errat(l, n, "value too long after ${...} substitution");
	if (rc) {
		free(out);
		return rc;
	}
	*ret = out;
	*ret_len = len;
	return 0;
}

/* ---- typed getters ---- */

static const char *type_name(const struct ynode *n)
{
	return n->type == Y_MAP ? "a mapping" : n->type == Y_SEQ ? "a list" : "a value";
}

static bool is_null(const struct ynode *n)
{
	return n->type == Y_SCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->val, "~") == 0 || strcmp(n->val, "null") == 0 ||
		strcmp(n->val, "Null") == 0 || strcmp(n->val, "NULL") == 0);
}

/* The expanded text of a scalar; what names the expected value for messages. */
static int scalar(struct ld *l, const struct ynode *n, const char *what, char **ret,
		  size_t *ret_len)
{
	if (n->type != Y_SCALAR)
		return errat(l, n, "expected %s, got %s", what, type_name(n));
	return expand(l, n, ret, ret_len);
}

/* A string; `optional` maps null and "" (after substitution) to NULL. */
static int get_str(struct ld *l, const struct ynode *n, bool optional, const char *what, char **ret)
{
	if (is_null(n)) {
		if (!optional)
			return errat(l, n, "expected %s, got nothing", what);
		free(*ret);
		*ret = NULL;
		return 0;
	}
	char *s;
	size_t len;
	int rc = scalar(l, n, what, &s, &len);
	if (rc)
		return rc;
	if (memchr(s, '\0', len)) {
		free(s);
		return errat(l, n, "expected %s, got a value containing a NUL byte", what);
	}
	if (len == 0) {
		free(s);
		if (!optional)
			return errat(l, n, "expected %s, got an empty value", what);
		s = NULL;
	}
	free(*ret);
	*ret = s;
	return 0;
}

static int get_bool(struct ld *l, const struct ynode *n, bool *ret)
{
	char *s;
	size_t len;
	char qb[QBUF];
	int rc = scalar(l, n, "true or false", &s, &len);
	if (rc)
		return rc;
	if (config_parse_bool(s, len, ret))
		rc = errat(l, n, "expected true or false, got %s", q(s, len, qb, sizeof(qb)));
	free(s);
	return rc;
}

static int get_ms(struct ld *l, const struct ynode *n, unsigned min_ms, unsigned *ret)
{
	char *s;
	size_t len;
	char qb[QBUF];
	unsigned long long ms;
	int rc = scalar(l, n, "a duration like 10s or 500ms", &s, &len);
	if (rc)
		return rc;
	if (config_parse_duration(s, len, &ms))
		rc = errat(l, n, "expected a duration like 10s or 500ms, got %s",
			   q(s, len, qb, sizeof(qb)));
	else if (ms < min_ms)
		rc = errat(l, n, "expected a duration of at least %ums, got %s", min_ms,
			   q(s, len, qb, sizeof(qb)));
	else if (ms > UINT_MAX_)
		rc = errat(l, n, "expected a duration of at most 49 days, got %s",
			   q(s, len, qb, sizeof(qb)));
	else
		*ret = (unsigned)ms;
	free(s);
	return rc;
}

static int get_size(struct ld *l, const struct ynode *n, unsigned long long max,
		    unsigned long long *ret)
{
	char *s;
	size_t len;
	char qb[QBUF];
	unsigned long long v;
	int rc = scalar(l, n, "a size like 8k or 1m", &s, &len);
	if (rc)
		return rc;
	if (config_parse_size(s, len, &v))
		rc =
		    errat(l, n, "expected a size like 8k or 1m, got %s", q(s, len, qb, sizeof(qb)));
	else if (v > max)
		rc = errat(l, n, "expected a size of at most %llu bytes, got %s", max,
			   q(s, len, qb, sizeof(qb)));
	else
		*ret = v;
	free(s);
	return rc;
}

static int get_uint(struct ld *l, const struct ynode *n, unsigned min, unsigned max, unsigned *ret)
{
	char *s;
	size_t len;
	char qb[QBUF];
	int rc = scalar(l, n, "a number", &s, &len);
	if (rc)
		return rc;
	unsigned long long v = 0;
	bool ok = len > 0 && len <= 10;
	for (size_t i = 0; ok && i < len; i++) {
		ok = s[i] >= '0' && s[i] <= '9';
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	if (!ok || v < min || v > max)
		rc = errat(l, n, "expected a whole number from %u to %u, got %s", min, max,
			   q(s, len, qb, sizeof(qb)));
	else
		*ret = (unsigned)v;
	free(s);
	return rc;
}

#define ADDR_WHAT "an address like 127.0.0.1:8080 or [::1]:8080"

static int get_addr(struct ld *l, const struct ynode *n, struct sg_addr *ret)
{
	char *s;
	size_t len;
	char qb[QBUF];
	int rc = scalar(l, n, ADDR_WHAT, &s, &len);
	if (rc)
		return rc;
	rc = config_addr_parse(s, len, ret);
	if (rc == SG_EINVAL)
		rc = errat(l, n, "expected %s, got %s", ADDR_WHAT, q(s, len, qb, sizeof(qb)));
	free(s);
	return rc;
}

/* A scalar or a list of scalars, as the items of a list (flow or block). */
static int list_items(struct ld *l, const struct ynode *n, const struct ynode *const **ret,
		      size_t *ret_n, const char *what)
{
	if (n->type == Y_SEQ) {
		*ret = (const struct ynode *const *)n->kids;
		*ret_n = n->n;
		return 0;
	}
	if (n->type == Y_SCALAR) {
		*ret = NULL; /* caller treats the node itself as the only item */
		*ret_n = is_null(n) ? 0 : 1;
		return 0;
	}
	return errat(l, n, "expected %s, got %s", what, type_name(n));
}

static int get_addr_list(struct ld *l, const struct ynode *n, struct sg_addr **ret, size_t *ret_n)
{
	const struct ynode *const *items = NULL;
	size_t cnt = 0;
	int rc = list_items(l, n, &items, &cnt, ADDR_WHAT " or a list of them");
	if (rc)
		return rc;
	struct sg_addr *v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return SG_ENOMEM;
	size_t i;
	for (i = 0; i < cnt; i++)
		if ((rc = get_addr(l, items ? items[i] : n, &v[i])))
			break;
	if (rc) {
		for (size_t j = 0; j < i; j++)
			config_addr_clear(&v[j]);
		free(v);
		return rc;
	}
	for (size_t j = 0; j < *ret_n; j++)
		config_addr_clear(&(*ret)[j]);
	free(*ret);
	*ret = v;
	*ret_n = cnt;
	return 0;
}

static int get_str_list(struct ld *l, const struct ynode *n, const char *what, char ***ret,
			size_t *ret_n)
{
	const struct ynode *const *items = NULL;
	size_t cnt = 0;
	int rc = list_items(l, n, &items, &cnt, what);
	if (rc)
		return rc;
	char **v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		return SG_ENOMEM;
	size_t i;
	for (i = 0; i < cnt; i++)
		if ((rc = get_str(l, items ? items[i] : n, false, what, &v[i])))
			break;
	if (rc) {
		for (size_t j = 0; j < i; j++)
			free(v[j]);
		free(v);
		return rc;
	}
	for (size_t j = 0; j < *ret_n; j++)
		free((*ret)[j]);
	free(*ret);
	*ret = v;
	*ret_n = cnt;
	return 0;
}

/* ---- mappings: known keys, unknown and duplicate keys ---- */

/* Levenshtein distance, capped: enough to suggest "listen" for "listne". */
static size_t edit_distance(const char *a, size_t alen, const char *b)
{
	size_t blen = strlen(b);
	if (alen > 64 || blen > 64)
		return 99;
	size_t row[65];
	for (size_t j = 0; j <= blen; j++)
		row[j] = j;
	for (size_t i = 1; i <= alen; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= blen; j++) {
			size_t up = row[j];
			size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
			size_t v = diag + cost;
			if (up + 1 < v)
				v = up + 1;
			if (row[j - 1] + 1 < v)
				v = row[j - 1] + 1;
			row[j] = v;
			diag = up;
		}
	}
	return row[blen];
}

/* Checks every key of map against keys[] (NULL-terminated); calls back with
 * the key's index and the value node. */
typedef int (*key_fn)(struct ld *l, void *obj, size_t key, const struct ynode *val);

static int walk_map(struct ld *l, const struct ynode *map, const char *what,
		    const char *const *keys, key_fn fn, void *obj)
{
	if (map->type != Y_MAP)
		return errat(l, map, "expected %s (a mapping of key: value), got %s", what,
			     type_name(map));
	char qb[QBUF];
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
		if (k->type != Y_SCALAR)
			return errat(l, k, "expected a key name, got %s", type_name(k));
		for (size_t j = 0; j < i; j += 2)
			if (map->kids[j]->type == Y_SCALAR && map->kids[j]->len == k->len &&
			    memcmp(map->kids[j]->val, k->val, k->len) == 0)
				return errat(l, k, "duplicate key %s (first set at line %zu)",
					     q(k->val, k->len, qb, sizeof(qb)), map->kids[j]->line);
		size_t idx;
		for (idx = 0; keys[idx]; idx++)
			if (strlen(keys[idx]) == k->len && memcmp(keys[idx], k->val, k->len) == 0)
				break;
		if (!keys[idx]) {
			char list[512];
			size_t off = 0, best = 0, bestd = 3; /* suggest within 2 edits */
			for (size_t j = 0; keys[j] && off < sizeof(list); j++) {
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
							j ? ", " : "", keys[j]);
				size_t d = edit_distance(k->val, k->len, keys[j]);
				if (d < bestd)
					best = j, bestd = d;
			}
			char hint[96] = "";
			if (bestd < 3)
				snprintf(hint, sizeof(hint), "; did you mean \"%s\"?", keys[best]);
			return errat(l, k, "unknown key %s (expected one of: %s)%s",
				     q(k->val, k->len, qb, sizeof(qb)), list, hint);
		}
		int rc = fn(l, obj, idx, v);
		if (rc)
			return rc;
	}
	return 0;
}

/* The value node of key in map, or NULL. */
static const struct ynode *map_get(const struct ynode *map, const char *key)
{
	if (!map || map->type != Y_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < map->n; i += 2)
		if (map->kids[i]->type == Y_SCALAR && strcmp(map->kids[i]->val, key) == 0)
			return map->kids[i + 1];
	return NULL;
}

/* ---- sections ---- */

static const char *const limits_keys[] = {"max_header_bytes",	      "max_headers",
					  "max_body_bytes",	      "max_connections",
					  "allow_underscore_headers", NULL};

static int limits_key(struct ld *l, void *obj, size_t key, const struct ynode *v)
{
	struct sg_config *c = l->cfg;
	unsigned long long sz;
	int rc;
	switch (key) {
	case 0:
		if ((rc = get_size(l, v, 1024 * 1024, &sz)))
			return rc;
		c->max_header_bytes = (size_t)sz;
		return 0;
	case 1: return get_uint(l, v, 1, 10000, &c->max_headers);
	case 2: return get_size(l, v, ~0ULL, &c->max_body_bytes);
	case 3: return get_uint(l, v, 1, 10000000, &c->max_connections);
	default: return get_bool(l, v, &c->allow_underscore_headers);
	}
}

static const char *const timeouts_keys[] = {"connect", "header", "idle", "response", "drain", NULL};

static int timeouts_key(struct ld *l, void *obj, size_t key, const struct ynode *v)
{
	struct sg_config *c = l->cfg;
	unsigned *dst[] = {&c->connect_timeout_ms, &c->header_timeout_ms, &c->idle_timeout_ms,
			   &c->response_timeout_ms, &c->drain_timeout_ms};
	return get_ms(l, v, key == 4 ? 0 : 1, dst[key]);
}

static const char *const session_keys[] = {"secret_key_file",
					   "fallback_key_files",
					   "cookie_name",
					   "digest",
					   "salt",
					   "max_age",
					   "header_name",
					   "patch_header_name",
					   "header_max",
					   "cookie_domain",
					   "cookie_path",
					   "cookie_httponly",
					   "cookie_secure",
					   "cookie_samesite",
					   "cookie_partitioned",
					   "refresh_each_request",
					   "refuse_oversized_cookie",
					   "accept_starlette_cookies",
					   NULL};

static int session_key(struct ld *l, void *obj, size_t key, const struct ynode *v)
{
	struct sg_session_conf *s = &l->cfg->session;
	unsigned ms;
	unsigned long long sz;
	int rc;
	switch (key) {
	case 0: return get_str(l, v, true, "a file path", &s->secret_key_file);
	case 1:
		return get_str_list(l, v, "a list of file paths", &s->fallback_key_files,
				    &s->nfallback);
	case 2: return get_str(l, v, false, "a cookie name", &s->cookie_name);
	case 3: return get_str(l, v, false, "a digest name like sha1", &s->digest);
	case 4: {
		/* an empty salt is valid for itsdangerous, so "" is kept */
		char *t;
		size_t len;
		if (is_null(v))
			return errat(l, v, "expected a salt string, got nothing");
		if ((rc = scalar(l, v, "a salt string", &t, &len)))
			return rc;
		free(s->salt);
		s->salt = t;
		return 0;
	}
	case 5:
		if ((rc = get_ms(l, v, 1000, &ms)) == 0)
			s->max_age = ms / 1000;
		return rc;
	case 6: return get_str(l, v, false, "a header name", &s->header_name);
	case 7: return get_str(l, v, false, "a header name", &s->patch_header_name);
	case 8:
		if ((rc = get_size(l, v, 1024 * 1024, &sz)) == 0)
			s->header_max = (size_t)sz;
		return rc;
	case 9: return get_str(l, v, true, "a domain", &s->cookie_domain);
	case 10: return get_str(l, v, false, "a path like /", &s->cookie_path);
	case 11: return get_bool(l, v, &s->cookie_httponly);
	case 12: return get_bool(l, v, &s->cookie_secure);
	case 13: return get_str(l, v, true, "Strict, Lax or None", &s->cookie_samesite);
	case 14: return get_bool(l, v, &s->cookie_partitioned);
	case 15: return get_bool(l, v, &s->refresh_each_request);
	case 16: return get_bool(l, v, &s->refuse_oversized_cookie);
	default: return get_bool(l, v, &s->accept_starlette_cookies);
	}
}

static const char *const backend_keys[] = {"name",
					   "servers",
					   "session",
					   "writable_keys",
					   "connect_timeout",
					   "response_timeout",
					   "keepalive",
					   "max_fails",
					   "fail_timeout",
					   "preserve_host",
					   "starlette_secret_key_file",
					   "starlette_cookie_name",
					   NULL};

static int backend_key(struct ld *l, void *obj, size_t key, const struct ynode *v)
{
	struct sg_backend *b = obj;
	char qb[QBUF];
	int rc;
	switch (key) {
	case 0: return get_str(l, v, false, "a backend name", &b->name);
	case 1: return get_addr_list(l, v, &b->servers, &b->nservers);
	case 2: {
		char *s;
		size_t len;
		if ((rc = scalar(l, v, "a session mode", &s, &len)))
			return rc;
		if (config_parse_session_mode(s, len, &b->session))
			rc = errat(l, v,
				   "expected a session mode (header, cookie, starlette or none), "
				   "got %s",
				   q(s, len, qb, sizeof(qb)));
		free(s);
		return rc;
	}
	case 3:
		return get_str_list(l, v, "a list of session keys or \"prefix*\" patterns",
				    &b->writable_keys, &b->nwritable);
	case 4: return get_ms(l, v, 1, &b->connect_timeout_ms);
	case 5: return get_ms(l, v, 1, &b->response_timeout_ms);
	case 6: return get_uint(l, v, 0, 100000, &b->keepalive);
	case 7: return get_uint(l, v, 0, 1000000, &b->max_fails);
	case 8: return get_ms(l, v, 1, &b->fail_timeout_ms);
	case 9: return get_bool(l, v, &b->preserve_host);
	case 10: return get_str(l, v, true, "a file path", &b->starlette_secret_key_file);
	default: return get_str(l, v, false, "a cookie name", &b->starlette_cookie_name);
	}
}

static const char *const route_keys[] = {"prefix", "host", "backend", "strip_prefix", NULL};

static int route_key(struct ld *l, void *obj, size_t key, const struct ynode *v)
{
	struct sg_route *r = obj;
	switch (key) {
	case 0: return get_str(l, v, false, "a path prefix like /api", &r->prefix);
	case 1: return get_str(l, v, true, "a host name", &r->host);
	case 2: return get_str(l, v, false, "a backend name", &r->backend_name);
	default: return get_bool(l, v, &r->strip_prefix);
	}
}

static int get_backends(struct ld *l, const struct ynode *n)
{
	struct sg_config *c = l->cfg;
	if (n->type != Y_SEQ)
		return errat(l, n, "expected a list of backends (- name: ...), got %s",
			     type_name(n));
	if (!(c->backends = calloc(n->n ? n->n : 1, sizeof(*c->backends))))
		return SG_ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		struct sg_backend *b = &c->backends[c->nbackends++];
		b->session = SG_SESSION_HEADER;
		b->keepalive = 32;
		b->max_fails = 1;
		b->preserve_host = true;
		int rc = walk_map(l, n->kids[i], "a backend", backend_keys, backend_key, b);
		if (rc)
			return rc;
		if (!b->name)
			return errat(l, n->kids[i], "backend %zu: name is required", i + 1);
		if (!map_get(n->kids[i], "servers"))
			return errat(l, n->kids[i],
				     "backend \"%s\": servers is required (a list like "
				     "[127.0.0.1:5000])",
				     b->name);
	}
	return 0;
}

static int get_routes(struct ld *l, const struct ynode *n)
{
	struct sg_config *c = l->cfg;
	if (n->type != Y_SEQ)
		return errat(l, n, "expected a list of routes (- prefix: ...), got %s",
			     type_name(n));
	if (!(c->routes = calloc(n->n ? n->n : 1, sizeof(*c->routes))))
		return SG_ENOMEM;
	for (size_t i = 0; i < n->n; i++) {
		struct sg_route *r = &c->routes[c->nroutes++];
		int rc = walk_map(l, n->kids[i], "a route", route_keys, route_key, r);
		if (rc)
			return rc;
		if (!r->prefix)
			return errat(l, n->kids[i],
				     "route %zu: prefix is required (like / or /api)", i + 1);
		if (!r->backend_name)
			return errat(l, n->kids[i], "route %zu: backend is required", i + 1);
	}
	return 0;
}

static int get_trusted(struct ld *l, const struct ynode *n)
{
	struct sg_config *c = l->cfg;
	const struct ynode *const *items = NULL;
	size_t cnt = 0;
	char qb[QBUF];
	int rc = list_items(l, n, &items, &cnt, "a list of networks like 10.0.0.0/8");
	if (rc)
		return rc;
	free(c->trusted_proxies);
	c->ntrusted = 0;
	if (!(c->trusted_proxies = calloc(cnt ? cnt : 1, sizeof(*c->trusted_proxies))))
		return SG_ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		const struct ynode *it = items ? items[i] : n;
		char *s;
		size_t len;
		if ((rc = scalar(l, it, "a network like 10.0.0.0/8", &s, &len)))
			return rc;
		if (config_cidr_parse(s, len, &c->trusted_proxies[i]))
			rc = errat(l, it,
				   "expected a network like 10.0.0.0/8 or an IP address, got %s",
				   q(s, len, qb, sizeof(qb)));
		free(s);
		if (rc)
			return rc;
		c->ntrusted++;
	}
	return 0;
}

static const char *const top_keys[] = {"listen",
				       "workers",
				       "admin",
				       "access_log",
				       "log_level",
				       "request_id_header",
				       "trusted_proxies",
				       "session",
				       "backends",
				       "routes",
				       "limits",
				       "timeouts",
				       NULL};

static int top_key(struct ld *l, void *obj, size_t key, const struct ynode *v)
{
	struct sg_config *c = l->cfg;
	int rc;
	char qb[QBUF];
	switch (key) {
	case 0: return get_addr_list(l, v, &c->listen, &c->nlisten);
	case 1: {
		char *s;
		size_t len;
		if (v->type == Y_SCALAR && strcmp(v->val, "auto") == 0) {
			c->workers = 0;
			return 0;
		}
		if ((rc = scalar(l, v, "auto or a number of threads", &s, &len)))
			return rc;
		if (strcmp(s, "auto") == 0) {
			c->workers = 0;
		} else if (get_uint(l, v, 1, 1024, &c->workers)) {
			rc = errat(l, v,
				   "expected auto or a number of threads from 1 to 1024, got %s",
				   q(s, len, qb, sizeof(qb)));
		}
		free(s);
		return rc;
	}
	case 2:
		if (is_null(v) || (v->type == Y_SCALAR && strcmp(v->val, "off") == 0)) {
			if (c->admin)
				config_addr_clear(c->admin);
			free(c->admin);
			c->admin = NULL;
			return 0;
		}
		if (!c->admin && !(c->admin = calloc(1, sizeof(*c->admin))))
			return SG_ENOMEM;
		return get_addr(l, v, c->admin);
	case 3: return get_str(l, v, false, "stdout, stderr, off or a file path", &c->access_log);
	case 4: return get_str(l, v, false, "debug, info, warn or error", &c->log_level);
	case 5: return get_str(l, v, false, "a header name", &c->request_id_header);
	case 6: return get_trusted(l, v);
	case 7: return walk_map(l, v, "the session settings", session_keys, session_key, NULL);
	case 8: return get_backends(l, v);
	case 9: return get_routes(l, v);
	case 10: return walk_map(l, v, "the limits", limits_keys, limits_key, NULL);
	default: return walk_map(l, v, "the timeouts", timeouts_keys, timeouts_key, NULL);
	}
}

/* ---- positions for problems found after parsing ---- */

static const struct ynode *problem_node(struct ld *l, const char *section, size_t index,
					const char *key)
{
	const struct ynode *n = l->root, *sec = section ? map_get(l->root, section) : l->root;
	if (!sec)
		return n;
	n = sec;
	if (sec->type == Y_SEQ && index < sec->n)
		n = sec->kids[index];
	if (key) {
		const struct ynode *v = map_get(n, key);
		if (v) {
			n = v;
			/* fallback_key_files: 1 -> that entry */
			if (v->type == Y_SEQ && index < v->n && sec->type != Y_SEQ)
				n = v->kids[index];
		}
	}
	return n;
}

/* ---- secrets ---- */

static int read_secret(struct ld *l, const struct ynode *at, const char *path, struct sg_bytes *ret)
{
	char qb[QBUF];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errat(l, at, "cannot read secret key file %s: %s",
			     q(path, strlen(path), qb, sizeof(qb)), strerror(errno));
	unsigned char *buf = malloc(SG_SECRET_MAX + 2);
	if (!buf) {
		close(fd);
		return SG_ENOMEM;
	}
	size_t len = 0;
	int rc = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, SG_SECRET_MAX + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = errat(l, at, "cannot read secret key file %s: %s",
				   q(path, strlen(path), qb, sizeof(qb)), strerror(errno));
			break;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > SG_SECRET_MAX) {
			rc = errat(l, at, "secret key file %s is larger than %d bytes",
				   q(path, strlen(path), qb, sizeof(qb)), SG_SECRET_MAX);
			break;
		}
	}
	/* As ssh does for private keys, but only a warning: Docker secrets and
	 * read-only bind mounts are often 0444 and the operator may not choose.
	 * Only for a key that loads: a refused file gets its error alone. */
	struct stat st;
	bool exposed = fstat(fd, &st) == 0 && (st.st_mode & 077);
	close(fd);
	/* one trailing newline is an editor's, not the key's; the same rule as
	 * the cookie CLI (signer_secret_trim), so both derive the same key */
	if (rc == 0)
		len = signer_secret_trim((const char *)buf, len);
	if (rc == 0 && len == 0)
		rc = errat(l, at, "secret key file %s is empty",
			   q(path, strlen(path), qb, sizeof(qb)));
	if (rc) {
		explicit_bzero(buf, SG_SECRET_MAX + 2);
		free(buf);
		return rc;
	}
	if (exposed)
		log_warn("%s:%zu:%zu: secret key file %s has mode %04o: group or others may read "
			 "or write it (chmod 600 or 400 it, owned by the user sessiongate runs as)",
			 l->name, at ? at->line : 1, at ? at->col : 1,
			 q(path, strlen(path), qb, sizeof(qb)), (unsigned)(st.st_mode & 07777));
	buf[len] = '\0';
	unsigned char *shrunk = realloc(buf, len + 1);
	ret->ptr = shrunk ? shrunk : buf;
	ret->len = len;
	return 0;
}

static int copy_bytes(const struct sg_bytes *src, struct sg_bytes *dst)
{
	if (!src->ptr)
		return 0;
	if (!(dst->ptr = malloc(src->len + 1)))
		return SG_ENOMEM;
	memcpy(dst->ptr, src->ptr, src->len + 1);
	dst->len = src->len;
	return 0;
}

/* A relative key file path resolves against the configuration file's
 * directory (as nginx does against its prefix), not the working directory,
 * which under systemd is /. The config keeps the resolved path, so errors
 * and warnings name the file actually read. */
static int resolve_path(struct ld *l, char **path)
{
	if (!l->dir || !*path || !**path || (*path)[0] == '/')
		return 0;
	size_t dn = strlen(l->dir), pn = strlen(*path);
	if (dn && l->dir[dn - 1] == '/') /* "/": no "//key" */
		dn--;
	char *full = malloc(dn + 1 + pn + 1);
	if (!full)
		return SG_ENOMEM;
	memcpy(full, l->dir, dn);
	full[dn] = '/';
	memcpy(full + dn + 1, *path, pn + 1);
	free(*path);
	*path = full;
	return 0;
}

static int resolve_key_paths(struct ld *l)
{
	struct sg_session_conf *s = &l->cfg->session;
	int rc = resolve_path(l, &s->secret_key_file);
	for (size_t i = 0; !rc && i < s->nfallback; i++)
		rc = resolve_path(l, &s->fallback_key_files[i]);
	for (size_t i = 0; !rc && i < l->cfg->nbackends; i++)
		rc = resolve_path(l, &l->cfg->backends[i].starlette_secret_key_file);
	return rc;
}

static int load_secrets(struct ld *l)
{
	struct sg_config *c = l->cfg;
	struct sg_session_conf *s = &c->session;
	int rc;
	if (s->secret_key_file &&
	    (rc = read_secret(l, problem_node(l, "session", 0, "secret_key_file"),
			      s->secret_key_file, &s->secret)))
		return rc;
	if (s->nfallback) {
		if (!(s->fallback_secrets = calloc(s->nfallback, sizeof(*s->fallback_secrets))))
			return SG_ENOMEM;
		for (size_t i = 0; i < s->nfallback; i++)
			if ((rc =
				 read_secret(l, problem_node(l, "session", i, "fallback_key_files"),
					     s->fallback_key_files[i], &s->fallback_secrets[i])))
				return rc;
	}
	for (size_t i = 0; i < c->nbackends; i++) {
		struct sg_backend *b = &c->backends[i];
		if (b->starlette_secret_key_file)
			rc = read_secret(
			    l, problem_node(l, "backends", i, "starlette_secret_key_file"),
			    b->starlette_secret_key_file, &b->starlette_secret);
		else
			rc = copy_bytes(&s->secret, &b->starlette_secret);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- entry points ---- */

static unsigned cpu_count(void)
{
	/* the CPUs we may run on (taskset, cpusets), not all the machine has */
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0) {
		int n = CPU_COUNT(&set);
		return n > 1024 ? 1024 : (unsigned)n;
	}
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 1024 ? 1024 : (unsigned)n;
}

/* cfgload_buffer, with dir (NULL: the cwd) for relative key file paths. */
static int load(const char *name, const char *dir, const char *buf, size_t len, unsigned flags,
		struct sg_config **ret, char *err, size_t errlen)
{
	struct ld l = {.name = name ? name : "(config)", .dir = dir, .err = err, .errlen = errlen};
	if (err && errlen)
		err[0] = '\0';
	if (len > SG_CONFIG_MAX_BYTES)
		return errat(&l, NULL, "configuration larger than %d bytes", SG_CONFIG_MAX_BYTES),
		       SG_ETOOBIG;
	int rc = config_new(&l.cfg);
	if (rc)
		return rc;
	if (!(l.cfg->path = strdup(l.name))) {
		config_free(l.cfg);
		return SG_ENOMEM;
	}
	if ((rc = parse_tree(&l, buf, len)) == 0 &&
	    (rc = walk_map(&l, l.root, "the configuration", top_keys, top_key, NULL)) == 0) {
		struct sg_config_problem p;
		if ((rc = config_validate(l.cfg, &p)) == SG_EINVAL)
			errat(&l, problem_node(&l, p.section, p.index, p.key), "%s", p.msg);
	}
	if (rc == 0)
		rc = resolve_key_paths(&l);
	if (rc == 0 && !(flags & CFGLOAD_NO_SECRETS))
		rc = load_secrets(&l);
	if (rc == 0 && l.cfg->workers == 0)
		l.cfg->workers = cpu_count();
	if (rc == SG_ENOMEM && err && errlen && !err[0])
		snprintf(err, errlen, "%s: out of memory", l.name);
	ynode_free(l.root);
	if (rc) {
		config_free(l.cfg);
		return rc;
	}
	*ret = l.cfg;
	return 0;
}

int cfgload_buffer(const char *name, const char *buf, size_t len, unsigned flags,
		   struct sg_config **ret, char *err, size_t errlen)
{
	return load(name, NULL, buf, len, flags, ret, err, errlen);
}

int cfgload_file(const char *path, struct sg_config **ret, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		return SG_ENOENT;
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "%s: is a directory, expected a YAML file", path);
		return SG_EINVAL;
	}
	char *buf = malloc(SG_CONFIG_MAX_BYTES + 1);
	if (!buf) {
		close(fd);
		return SG_ENOMEM;
	}
	size_t len = 0;
	for (;;) {
		ssize_t r = read(fd, buf + len, SG_CONFIG_MAX_BYTES + 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
			close(fd);
			free(buf);
			return SG_EINVAL;
		}
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > SG_CONFIG_MAX_BYTES) {
			snprintf(err, errlen, "%s: larger than %d bytes", path,
				 SG_CONFIG_MAX_BYTES);
			close(fd);
			free(buf);
			return SG_ETOOBIG;
		}
	}
	close(fd);
	/* the directory part of path, "a/b.yaml" -> "a", "/b.yaml" -> "/"; none
	 * for "b.yaml": relative to the cwd already */
	char *dir = NULL;
	const char *slash = strrchr(path, '/');
	if (slash && !(dir = strndup(path, slash == path ? 1 : (size_t)(slash - path)))) {
		free(buf);
		snprintf(err, errlen, "%s: out of memory", path);
		return SG_ENOMEM;
	}
	int rc = load(path, dir, buf, len, 0, ret, err, errlen);
	free(dir);
	free(buf);
	return rc;
}

int cfgload_test(const char *path)
{
	struct sg_config *cfg;
	char err[1024];
	if (cfgload_file(path, &cfg, err, sizeof(err))) {
		fprintf(stderr, "%s\nsessiongate: configuration file %s test failed\n", err, path);
		return 1;
	}
	config_free(cfg);
	fprintf(stderr,
		"sessiongate: the configuration file %s syntax is ok\n"
		"sessiongate: configuration file %s test is successful\n",
		path, path);
	return 0;
}

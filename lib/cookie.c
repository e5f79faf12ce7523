/* lib/cookie.c — Cookie header find/rewrite (werkzeug's rules), Set-Cookie parse (RFC 6265) and
 * build (werkzeug's dump_cookie). */
#include "cookie.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errors.h"
#include "sg_limits.h"

/* Python's bytes regex \s and bytes.strip(): [ \t\n\r\f\v]. */
static bool py_ws(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Python str.strip() on a latin-1 decoded header (Starlette): also
 * \x1c-\x1f, \x85 and \xa0. Used only to be extra careful when stripping. */
static bool uni_ws(unsigned char c)
{
	return py_ws(c) || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0;
}

/* werkzeug's _legal_cookie_chars: bytes that never need quoting (a table:
 * cookie_replace checks every byte of a session cookie with it). */
/* clang-format off */
static const unsigned char legal_tab[256] = {
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1,
    ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['/'] = 1, ['='] = 1,
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1, [':'] = 1,
};
/* clang-format on */

static bool legal_cookie_char(unsigned char c)
{
	return legal_tab[c];
}

/* One werkzeug cookie pair: key slice (stripped), raw value slice, and the
 * whole segment [seg, seg_end) as it appears in the header. */
struct wz_pair {
	const char *key, *val;
	size_t klen, vlen;
	size_t seg, seg_end;
	bool stray_quote; /* value starts with '"' but is not one quoted string */
};

/* The byte at i of hdr + ";" (werkzeug appends a ';' before matching). */
static unsigned char at(const char *b, size_t n, size_t i)
{
	return i < n ? (unsigned char)b[i] : ';';
}

/* Runs werkzeug's _cookie_re once at *pos (a match always consumes at least
 * one byte). Returns 1 with *p filled (key may be empty: werkzeug skips
 * those), 0 at the end, -1 when the regex does not match (werkzeug stops). */
static int wz_next(const char *b, size_t n, size_t *pos, struct wz_pair *p)
{
	size_t i = *pos, j = i, end, vs, ve;
	bool quoted = false;
	if (i >= n)
		return 0;
	while (at(b, n, j) != '=' && at(b, n, j) != ';')
		j++;
	if (at(b, n, j) == ';') {
		vs = ve = j;
		end = j + 1;
	} else {
		size_t p0 = j + 1;
		while (p0 < n && py_ws((unsigned char)b[p0]))
			p0++;
		vs = p0;
		ve = (size_t)-1;
		if (at(b, n, p0) == '"') {
			/* "(?:[^\\"]|\\.)*" then \s*; — '.' does not match '\n' */
			size_t q = p0 + 1;
			bool closed = false;
			while (q < n) {
				unsigned char c = (unsigned char)b[q];
				if (c == '"') {
					closed = true;
					break;
				}
				if (c == '\\') {
					if (q + 1 >= n || b[q + 1] == '\n')
						break;
					q += 2;
				} else {
					q++;
				}
			}
			if (closed) {
				size_t r = q + 1;
				while (r < n && py_ws((unsigned char)b[r]))
					r++;
				if (at(b, n, r) == ';') {
					ve = q + 1;
					end = r + 1;
					quoted = true;
				}
			}
		}
		if (ve == (size_t)-1) {
			/* (?:.*?) then \s*; — lazily, never across '\n': the value
			 * runs to the first ';' (or the end) minus trailing
			 * whitespace, and a '\n' before that whitespace stops
			 * werkzeug. memchr, not a byte loop: session cookies are
			 * the long values here. */
			const char *semi = memchr(b + p0, ';', n - p0);
			size_t s = semi ? (size_t)(semi - b) : n, e = s;
			while (e > p0 && py_ws((unsigned char)b[e - 1]))
				e--;
			if (memchr(b + p0, '\n', e - p0))
				return -1;
			ve = e;
			end = s + 1;
		}
	}
	size_t ks = i, ke = j;
	while (ks < ke && py_ws((unsigned char)b[ks]))
		ks++;
	while (ke > ks && py_ws((unsigned char)b[ke - 1]))
		ke--;
	p->key = b + ks;
	p->klen = ke - ks;
	p->val = b + vs;
	p->vlen = ve - vs;
	p->stray_quote = vs < n && b[vs] == '"' && !quoted;
	p->seg = ks;
	p->seg_end = ve > j ? ve : ke; /* "key=value" raw, or the bare stripped key */
	*pos = end;
	return 1;
}

int cookie_find(const char *hdr, size_t len, const char *name, size_t nlen, const char **ret_val,
		size_t *ret_vlen)
{
	size_t pos = 0;
	struct wz_pair p;
	while (wz_next(hdr, len, &pos, &p) == 1) {
		if (p.klen == nlen && p.klen > 0 && memcmp(p.key, name, nlen) == 0) {
			*ret_val = p.val;
			*ret_vlen = p.vlen;
			return 0;
		}
	}
	return SG_ENOENT;
}

size_t cookie_unquote(const char *v, size_t len, char *out)
{
	if (len < 2 || v[0] != '"' || v[len - 1] != '"') {
		memcpy(out, v, len);
		return len;
	}
	const char *b = v + 1;
	size_t n = len - 2, o = 0;
	for (size_t i = 0; i < n;) {
		if (b[i] == '\\' && i + 3 < n && b[i + 1] >= '0' && b[i + 1] <= '3' &&
		    b[i + 2] >= '0' && b[i + 2] <= '7' && b[i + 3] >= '0' && b[i + 3] <= '7') {
			out[o++] = (char)(((b[i + 1] - '0') << 6) | ((b[i + 2] - '0') << 3) |
					  (b[i + 3] - '0'));
			i += 4;
		} else if (b[i] == '\\' && i + 1 < n && b[i + 1] != '\n') {
			out[o++] = b[i + 1];
			i += 2;
		} else {
			out[o++] = b[i++];
		}
	}
	return o;
}

/* Does any ';'-piece of seg name the cookie, for Starlette (key before the
 * first '=') or for a parser that takes a bare piece as a name? */
static bool seg_names(const char *s, size_t len, const char *name, size_t nlen)
{
	const char *p = s, *end = s + len;
	for (;;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *j = semi ? semi : end;
		const char *eq = memchr(p, '=', (size_t)(j - p));
		const char *a = p, *z = eq ? eq : j;
		while (a < z && uni_ws((unsigned char)*a))
			a++;
		while (z > a && uni_ws((unsigned char)z[-1]))
			z--;
		if ((size_t)(z - a) == nlen && memcmp(a, name, nlen) == 0)
			return true;
		if (!semi)
			return false;
		p = semi + 1;
	}
}

struct buf {
	char *p;
	size_t len, cap;
	bool oom;
};

/* Room for n more bytes and the NUL. */
static bool buf_reserve(struct buf *b, size_t n)
{
	if (b->oom || n > SIZE_MAX / 2 - b->len) {
		b->oom = true; /* (cannot happen: tells the optimiser the sum does not wrap) */
		return false;
	}
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *np = realloc(b->p, cap);
		if (!np) {
			b->oom = true;
			return false;
		}
		b->p = np;
		b->cap = cap;
	}
	return true;
}

static void buf_add(struct buf *b, const char *s, size_t n)
{
	if (!buf_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static int buf_finish(struct buf *b, char **ret, size_t *ret_len)
{
	if (!b->oom && !b->p)
		buf_add(b, "", 0);
	if (b->oom) {
		free(b->p);
		return SG_ENOMEM;
	}
	*ret = b->p;
	*ret_len = b->len;
	return 0;
}

/* No early exit: a session cookie (hundreds of bytes) is all legal, and
 * four look-ups ANDed per turn beat a branch per byte. */
static bool all_legal(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	unsigned ok = 1;
	size_t i = 0;
	for (; i + 4 <= n; i += 4)
		ok &= legal_tab[u[i]] & legal_tab[u[i + 1]] & legal_tab[u[i + 2]] &
		      legal_tab[u[i + 3]];
	for (; i < n; i++)
		ok &= legal_tab[u[i]];
	return ok;
}

int cookie_replace(const char *hdr, size_t len, const char *name, size_t nlen, const char *value,
		   size_t vlen, char **ret, size_t *ret_len)
{
	if (nlen == 0 || !all_legal(name, nlen) || memchr(name, '=', nlen) ||
	    (value && !all_legal(value, vlen)))
		return SG_EINVAL;
	struct buf b = {0};
	bool placed = false;
	size_t pos = 0;
	struct wz_pair p;
	while (wz_next(hdr, len, &pos, &p) == 1) {
		/* werkzeug skips empty names; a stray quote could swallow the
		 * following "; name=..." once re-joined, so drop that too */
		if (p.klen == 0 || p.stray_quote)
			continue;
		bool same = p.klen == nlen && memcmp(p.key, name, nlen) == 0;
		if (!same && !seg_names(hdr + p.seg, p.seg_end - p.seg, name, nlen)) {
			if (b.len)
				buf_add(&b, "; ", 2);
			buf_add(&b, hdr + p.seg, p.seg_end - p.seg);
			continue;
		}
		if (value && !placed) {
			if (b.len)
				buf_add(&b, "; ", 2);
			buf_add(&b, name, nlen);
			buf_add(&b, "=", 1);
			buf_add(&b, value, vlen);
			placed = true;
		}
	}
	if (value && !placed) {
		if (b.len)
			buf_add(&b, "; ", 2);
		buf_add(&b, name, nlen);
		buf_add(&b, "=", 1);
		buf_add(&b, value, vlen);
	}
	return buf_finish(&b, ret, ret_len);
}

int cookie_strip(const char *hdr, size_t len, const char *name, size_t nlen, char **ret,
		 size_t *ret_len)
{
	return cookie_replace(hdr, len, name, nlen, NULL, 0, ret, ret_len);
}

/* One pass for both cookie_find and cookie_replace. It walks the pairs as
 * cookie_replace does and records the text cookie_replace would keep as at
 * most two runs of the header's own bytes: consecutive kept pairs must be
 * separated by exactly "; " (what browsers send), and dropped pairs may only
 * sit before, between or after the runs. Anything else (odd separators, drops
 * in two places) leaves splice false and cookie_rewrite parses again. */
int cookie_scan(const char *hdr, size_t len, const char *name, size_t nlen, struct cookie_scan *ret)
{
	struct cookie_scan sc;
	memset(&sc, 0, sizeof(sc));
	sc.splice = true;
	bool placed = false, gap = false;
	size_t pos = 0;
	struct wz_pair p;
	while (wz_next(hdr, len, &pos, &p) == 1) {
		bool same = p.klen == nlen && p.klen > 0 && memcmp(p.key, name, nlen) == 0;
		if (same && !sc.found) {
			sc.found = true;
			sc.val = p.val;
			sc.vlen = p.vlen;
		}
		/* cookie_replace's rules, in its order */
		if (p.klen == 0 || p.stray_quote) {
			gap = true;
			continue;
		}
		if (same || seg_names(hdr + p.seg, p.seg_end - p.seg, name, nlen)) {
			if (!placed) {
				sc.place = sc.nruns;
				placed = true;
			}
			gap = true;
			continue;
		}
		size_t *last = sc.nruns ? sc.run[sc.nruns - 1] : NULL;
		if (!last) {
			sc.run[0][0] = p.seg;
			sc.nruns = 1;
		} else if (!gap && p.seg == last[1] + 2 && hdr[last[1]] == ';' &&
			   hdr[last[1] + 1] == ' ') {
			/* contiguous: extends the run below */
		} else if (gap && sc.nruns == 1) {
			sc.run[1][0] = p.seg;
			sc.nruns = 2;
		} else {
			sc.splice = false;
		}
		sc.run[sc.nruns - 1][1] = p.seg_end;
		gap = false;
	}
	if (!placed)
		sc.place = sc.nruns; /* appended */
	*ret = sc;
	return 0;
}

int cookie_rewrite(const char *hdr, size_t len, const struct cookie_scan *sc, const char *name,
		   size_t nlen, const char *value, size_t vlen, char **ret, size_t *ret_len)
{
	if (!sc->splice)
		return cookie_replace(hdr, len, name, nlen, value, vlen, ret, ret_len);
	if (nlen == 0 || !all_legal(name, nlen) || memchr(name, '=', nlen) ||
	    (value && !all_legal(value, vlen)))
		return SG_EINVAL;
	/* the parts, in order, joined with "; " */
	const char *part[3];
	size_t plen[3], np = 0, total = 0;
	for (unsigned i = 0; i <= sc->nruns; i++) {
		if (value && i == sc->place) {
			part[np] = NULL; /* name=value */
			plen[np++] = nlen + 1 + vlen;
		}
		if (i < sc->nruns) {
			part[np] = hdr + sc->run[i][0];
			plen[np++] = sc->run[i][1] - sc->run[i][0];
		}
	}
	for (size_t i = 0; i < np; i++)
		total += plen[i] + (i ? 2 : 0);
	char *out = malloc(total + 1), *o = out;
	if (!out)
		return SG_ENOMEM;
	for (size_t i = 0; i < np; i++) {
		if (i) {
			memcpy(o, "; ", 2);
			o += 2;
		}
		if (part[i]) {
			memcpy(o, part[i], plen[i]);
		} else {
			memcpy(o, name, nlen);
			o[nlen] = '=';
			memcpy(o + nlen + 1, value, vlen);
		}
		o += plen[i];
	}
	*o = '\0';
	*ret = out;
	*ret_len = total;
	return 0;
}

/* ---- dates ---- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char wdays[7][4] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};

static bool date_delim(unsigned char c)
{
	return c == 0x09 || (c >= 0x20 && c <= 0x2f) || (c >= 0x3b && c <= 0x40) ||
	       (c >= 0x5b && c <= 0x60) || (c >= 0x7b && c <= 0x7e);
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* Reads 1..max digits at *i (at least min); the next byte must not be a digit. */
static bool digits(const char *t, size_t n, size_t *i, unsigned min, unsigned max, unsigned *v)
{
	unsigned k = 0, acc = 0;
	while (*i < n && k < max && is_digit((unsigned char)t[*i])) {
		acc = acc * 10 + (unsigned)(t[*i] - '0');
		(*i)++;
		k++;
	}
	if (k < min || (*i < n && is_digit((unsigned char)t[*i])))
		return false;
	*v = acc;
	return true;
}

int cookie_parse_date(const char *s, size_t len, int64_t *ret)
{
	bool ft = false, fd = false, fm = false, fy = false;
	unsigned hh = 0, mi = 0, ss = 0, day = 0, mon = 0, year = 0;
	size_t i = 0;
	while (i < len) {
		while (i < len && date_delim((unsigned char)s[i]))
			i++;
		size_t a = i;
		while (i < len && !date_delim((unsigned char)s[i]))
			i++;
		const char *t = s + a;
		size_t n = i - a, k = 0;
		if (n == 0)
			break;
		unsigned h, m, sec, v;
		if (!ft && digits(t, n, &k, 1, 2, &h) && k < n && t[k++] == ':' &&
		    digits(t, n, &k, 1, 2, &m) && k < n && t[k++] == ':' &&
		    digits(t, n, &k, 1, 2, &sec)) {
			ft = true;
			hh = h, mi = m, ss = sec;
			continue;
		}
		k = 0;
		if (!fd && digits(t, n, &k, 1, 2, &v)) {
			fd = true;
			day = v;
			continue;
		}
		if (!fm && n >= 3) {
			bool hit = false;
			for (unsigned q = 0; q < 12 && !hit; q++) {
				if (strncasecmp(t, months[q], 3) == 0) {
					mon = q + 1;
					hit = true;
				}
			}
			if (hit) {
				fm = true;
				continue;
			}
		}
		k = 0;
		if (!fy && digits(t, n, &k, 2, 4, &v)) {
			fy = true;
			year = v;
			continue;
		}
	}
	if (fy && year >= 70 && year <= 99)
		year += 1900;
	else if (fy && year <= 69)
		year += 2000;
	if (!ft || !fd || !fm || !fy || day < 1 || day > 31 || year < 1601 || hh > 23 || mi > 59 ||
	    ss > 59 || day > days_in_month(year, mon))
		return SG_EMALFORMED;
	*ret = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mi * 60 + ss;
	return 0;
}

int cookie_format_date(int64_t t, char buf[30])
{
	/* 0001-01-01 .. 9999-12-31 23:59:59, what Python's datetime can hold */
	if (t < -62135596800LL || t > 253402300799LL)
		return SG_EINVAL;
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t secs = t - days * 86400;
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	int64_t wd = days % 7;
	if (wd < 0)
		wd += 7;
	char tmp[64]; /* roomy so the compiler can prove no truncation */
	snprintf(tmp, sizeof(tmp), "%s, %02u %s %04d %02d:%02d:%02d GMT", wdays[wd], d,
		 months[m - 1], (int)y, (int)(secs / 3600), (int)(secs / 60 % 60),
		 (int)(secs % 60));
	memcpy(buf, tmp, 30);
	return 0;
}

/* ---- Set-Cookie parsing ---- */

static bool wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **s, size_t *n)
{
	while (*n && wsp((unsigned char)**s))
		(*s)++, (*n)--;
	while (*n && wsp((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

static bool attr_is(const char *a, size_t n, const char *lit)
{
	return strlen(lit) == n && strncasecmp(a, lit, n) == 0;
}

int cookie_parse_set_cookie(const char *hdr, size_t len, struct set_cookie *ret)
{
	struct set_cookie c;
	memset(&c, 0, sizeof(c));
	const char *semi = memchr(hdr, ';', len);
	size_t pair_len = semi ? (size_t)(semi - hdr) : len;
	const char *eq = memchr(hdr, '=', pair_len);
	if (!eq)
		return SG_EMALFORMED;
	c.name = hdr;
	c.name_len = (size_t)(eq - hdr);
	c.value = eq + 1;
	c.value_len = pair_len - c.name_len - 1;
	trim(&c.name, &c.name_len);
	trim(&c.value, &c.value_len);
	if (c.name_len == 0)
		return SG_EMALFORMED;
	size_t i = pair_len;
	while (i < len) {
		i++; /* the ';' */
		size_t j = i;
		while (j < len && hdr[j] != ';')
			j++;
		const char *an = hdr + i, *av = NULL;
		size_t anl = j - i, avl = 0;
		const char *e = memchr(an, '=', anl);
		if (e) {
			av = e + 1;
			avl = (size_t)(hdr + j - av);
			anl = (size_t)(e - an);
		} else {
			av = an + anl;
		}
		trim(&an, &anl);
		trim(&av, &avl);
		i = j;
		if (avl > SG_SET_COOKIE_ATTR_MAX)
			continue;
		if (attr_is(an, anl, "expires")) {
			int64_t t;
			if (cookie_parse_date(av, avl, &t) == 0) {
				c.has_expires = true;
				c.expires = t;
			}
		} else if (attr_is(an, anl, "max-age")) {
			size_t k = 0;
			bool neg = avl && av[0] == '-';
			if (avl == 0 || (!neg && !is_digit((unsigned char)av[0])))
				continue;
			if (neg)
				k = 1;
			int64_t v = 0;
			bool ok = k < avl || !neg;
			for (; k < avl && ok; k++) {
				if (!is_digit((unsigned char)av[k]))
					ok = false;
				else if (v < INT64_MAX / 10 - 1)
					v = v * 10 + (av[k] - '0');
				else
					v = INT64_MAX / 10; /* clamp: huge is huge */
			}
			if (!ok)
				continue;
			c.has_max_age = true;
			c.max_age = neg ? -v : v;
		} else if (attr_is(an, anl, "domain")) {
			if (avl == 0)
				continue;
			if (av[0] == '.')
				av++, avl--;
			c.domain = av;
			c.domain_len = avl;
		} else if (attr_is(an, anl, "path")) {
			if (avl == 0 || av[0] != '/') {
				c.path = NULL; /* RFC 6265: default-path */
				c.path_len = 0;
			} else {
				c.path = av;
				c.path_len = avl;
			}
		} else if (attr_is(an, anl, "secure")) {
			c.secure = true;
		} else if (attr_is(an, anl, "httponly")) {
			c.httponly = true;
		} else if (attr_is(an, anl, "partitioned")) {
			c.partitioned = true;
		} else if (attr_is(an, anl, "samesite")) {
			if (attr_is(av, avl, "strict"))
				c.samesite = COOKIE_SAMESITE_STRICT;
			else if (attr_is(av, avl, "lax"))
				c.samesite = COOKIE_SAMESITE_LAX;
			else if (attr_is(av, avl, "none"))
				c.samesite = COOKIE_SAMESITE_NONE;
			else
				c.samesite = COOKIE_SAMESITE_UNSET;
		}
	}
	*ret = c;
	return 0;
}

bool cookie_is_deletion(const struct set_cookie *c, int64_t now)
{
	if (c->has_max_age)
		return c->max_age <= 0;
	return c->has_expires && c->expires <= now;
}

/* ---- Set-Cookie building ---- */

/* werkzeug's _cookie_quote: as is when every byte is legal, else DQUOTE'd with
 * \" \\ \054 \073 and \ooo for controls and non-ASCII. */
static void quote_into(struct buf *b, const char *s, size_t n)
{
	if (all_legal(s, n)) {
		buf_add(b, s, n);
		return;
	}
	buf_add(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[5];
		if (legal_cookie_char(c) || (c >= 0x20 && c < 0x7f && !strchr(",;\"\\", c))) {
			buf_add(b, (const char *)&s[i], 1);
		} else if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			buf_add(b, esc, 2);
		} else {
			snprintf(esc, sizeof(esc), "\\%03o", c);
			buf_add(b, esc, 4);
		}
	}
	buf_add(b, "\"", 1);
}

/* iri_to_uri leaves these bytes of a path unchanged; ';' would end the attribute. */
static bool path_ok(const char *p)
{
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("!$%&'()*+,-./:=@[]_~", c)))
			return false;
	}
	return true;
}

static const char *samesite_name(enum cookie_samesite s)
{
	switch (s) {
	case COOKIE_SAMESITE_STRICT: return "Strict";
	case COOKIE_SAMESITE_LAX: return "Lax";
	case COOKIE_SAMESITE_NONE: return "None";
	default: return NULL;
	}
}

static int build(const char *name, size_t nlen, const char *value, size_t vlen,
		 const struct cookie_attrs *a, int64_t expires, bool deletion, char **ret,
		 size_t *ret_len)
{
	static const struct cookie_attrs defaults = {0};
	if (!a)
		a = &defaults;
	if (nlen == 0 || !all_legal(name, nlen) || memchr(name, '=', nlen))
		return SG_EINVAL;
	const char *path = a->path ? a->path : "/";
	if (!path_ok(path))
		return SG_EINVAL;
	size_t dlen = 0;
	if (a->domain && a->domain[0]) {
		/* _make_cookie_domain: drop a port, demand a dot */
		const char *colon = strchr(a->domain, ':');
		dlen = colon ? (size_t)(colon - a->domain) : strlen(a->domain);
		if (!memchr(a->domain, '.', dlen))
			return SG_EINVAL;
		for (size_t i = 0; i < dlen; i++)
			if ((unsigned char)a->domain[i] >= 0x80) /* would need IDNA */
				return SG_EINVAL;
	}
	char date[30];
	if (expires >= 0 && cookie_format_date(expires, date) != 0)
		return SG_EINVAL;
	struct buf b = {0};
	/* one allocation for the usual cookie: an unquoted value and the
	 * attributes (the longest set, with a date, is under 100 bytes) */
	buf_reserve(&b, nlen + 1 + vlen + dlen + strlen(path) + 128);
	buf_add(&b, name, nlen);
	buf_add(&b, "=", 1);
	quote_into(&b, value, vlen);
	if (dlen) {
		buf_str(&b, "; Domain=");
		quote_into(&b, a->domain, dlen);
	}
	if (expires >= 0) {
		buf_str(&b, "; Expires=");
		buf_str(&b, date);
	}
	if (deletion)
		buf_str(&b, "; Max-Age=0");
	if (a->secure)
		buf_str(&b, "; Secure");
	if (a->httponly)
		buf_str(&b, "; HttpOnly");
	buf_str(&b, "; Path=");
	buf_str(&b, path);
	const char *ss = samesite_name(a->samesite);
	if (ss) {
		buf_str(&b, "; SameSite=");
		buf_str(&b, ss);
	}
	if (a->partitioned)
		buf_str(&b, "; Partitioned");
	return buf_finish(&b, ret, ret_len);
}

int cookie_build(const char *name, size_t nlen, const char *value, size_t vlen,
		 const struct cookie_attrs *a, int64_t expires, char **ret, size_t *ret_len)
{
	return build(name, nlen, value, vlen, a, expires, false, ret, ret_len);
}

int cookie_build_deletion(const char *name, size_t nlen, const struct cookie_attrs *a, char **ret,
			  size_t *ret_len)
{
	return build(name, nlen, "", 0, a, 0, true, ret, ret_len);
}

/* lib/deflate6.c — zlib's level-6 deflate for small inputs, byte for byte, from a small state.
 *
 * Why: Flask writes zlib.compress(json) (level 6, 32 KiB window, memLevel 8)
 * and sessiongate re-signs byte for byte what Flask would write. zlib keeps
 * ~256 KiB of state per stream and clears its 64 KiB hash head on every reset,
 * which evicts the L1 cache on every re-signed response (callgrind: 1,600 D1
 * misses per request, against 30 without compression). This file runs the same
 * algorithm — zlib's lazy matching with level 6's parameters (good 8, lazy 16,
 * nice 128, chain 128), its Huffman tree construction with its tie-breaks and
 * length-limit repair, and its choice between stored, static and dynamic
 * blocks — over a hash map sized to the input, so a 200-byte session costs
 * what it touches. The hash is zlib's (15 bits of the next three bytes), so
 * every hash chain holds exactly the positions zlib's would, in the same order.
 *
 * Only single-block inputs (DEFLATE6_MAX) are taken; the caller uses zlib for
 * longer ones. tests/unit/test_deflate6.c and tests/fuzz/fuzz_deflate6.c
 * compare every output with the system zlib's. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "deflate6.h"
#include "errors.h"

enum {
	MIN_MATCH = 3,
	MAX_MATCH = 258,
	GOOD_LENGTH = 8,   /* level 6: quarter the chain once a match is this long */
	MAX_LAZY = 16,	   /* level 6: no lazy search after a match this long */
	NICE_LENGTH = 128, /* level 6: stop searching at a match this long */
	MAX_CHAIN = 128,   /* level 6: hash chain entries tried */
	TOO_FAR = 4096,	   /* a 3-byte match further back is not worth it */
	LITERALS = 256,
	END_BLOCK = 256,
	L_CODES = 286,
	D_CODES = 30,
	BL_CODES = 19,
	HEAP_SIZE = 2 * L_CODES + 1,
	MAX_BITS = 15,
	MAX_BL_BITS = 7,
	REP_3_6 = 16,
	REPZ_3_10 = 17,
	REPZ_11_138 = 18,
	/* the window is zero beyond the input for MAX_MATCH bytes, as a fresh
	 * zlib stream's is; match comparisons may read up to there */
	PAD = MAX_MATCH + 8,
	MAP_MAX = 32768, /* slots for DEFLATE6_MAX inputs at half load */
};

/* One Huffman tree: leaves, then the internal nodes build_tree makes. zlib
 * overlays freq/code and dad/len; they are kept apart here. */
struct tree {
	uint16_t freq[HEAP_SIZE];
	uint16_t code[HEAP_SIZE];
	uint16_t dad[HEAP_SIZE];
	uint16_t len[HEAP_SIZE];
	int max_code;
	uint16_t leaves[L_CODES]; /* the symbols with a code, ascending */
	int nleaves;
};

enum tree_kind { TREE_LIT, TREE_DIST, TREE_BL };

struct deflate6 {
	unsigned char win[DEFLATE6_MAX + PAD];
	uint16_t prev[DEFLATE6_MAX];	 /* previous position with the same hash; 0 ends */
	uint32_t map[MAP_MAX];		 /* open addressing: (hash + 1) << 16 | last position */
	uint16_t sym_dist[DEFLATE6_MAX]; /* 0 for a literal, else the match distance */
	uint8_t sym_lc[DEFLATE6_MAX];	 /* the literal, or match length - MIN_MATCH */
	struct tree lt, dt, bt;
	uint64_t heap[HEAP_SIZE]; /* zlib's heap of nodes, each entry carrying its order key */
	int heap_len;
	uint16_t order[HEAP_SIZE]; /* the nodes as the heap gave them, root first from heap_max */
	int heap_max;
	struct run { /* the code-length runs of both trees, counted then sent */
		uint8_t sym, xbits, xval;
	} runs[L_CODES + D_CODES];
	unsigned nruns;
	uint16_t bl_count[MAX_BITS + 1];
	unsigned long opt_len, static_len; /* block bits with dynamic / static trees */
};

static const uint8_t extra_lbits[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
					2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const uint8_t extra_blbits[BL_CODES] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					       0, 0, 0, 0, 0, 0, 2, 3, 7};
static const uint8_t bl_order[BL_CODES] = {16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
					   11, 4,  12, 3, 13, 2, 14, 1, 15};

int deflate6_new(deflate6 **ret)
{
	/* calloc: the tables are large but only the prefix an input needs is
	 * ever touched, so untouched pages stay unmapped */
	deflate6 *d = calloc(1, sizeof(*d));
	if (!d)
		return SG_ENOMEM;
	*ret = d;
	return 0;
}

void deflate6_free(deflate6 *d)
{
	free(d);
}

static inline unsigned floor_log2(unsigned v)
{
	return 31u - (unsigned)__builtin_clz(v);
}

/* Deflate's length code (0..28) for match length - MIN_MATCH (0..255). */
static inline unsigned length_code(unsigned lc)
{
	if (lc < 8)
		return lc;
	if (lc == 255)
		return 28; /* 258 has a code of its own */
	unsigned bits = floor_log2(lc);
	return 4 * (bits - 1) + ((lc >> (bits - 2)) & 3);
}

/* Deflate's distance code (0..29) for distance - 1 (0..32767). */
static inline unsigned dist_code(unsigned d)
{
	if (d < 4)
		return d;
	unsigned bits = floor_log2(d);
	return 2 * bits + ((d >> (bits - 1)) & 1);
}

static inline unsigned extra_dbits(unsigned code)
{
	return code < 4 ? 0 : code / 2 - 1;
}

/* Code lengths of deflate's fixed trees (RFC 1951, 3.2.6). */
static inline unsigned fixed_len(enum tree_kind k, int n)
{
	if (k == TREE_DIST)
		return 5;
	return n < 144 ? 8 : n < 256 ? 9 : n < 280 ? 7 : 8;
}

static inline unsigned fixed_code(enum tree_kind k, int n)
{
	if (k == TREE_DIST)
		return (unsigned)n;
	return n < 144	 ? 0x30u + (unsigned)n
	       : n < 256 ? 0x190u + (unsigned)(n - 144)
	       : n < 280 ? (unsigned)(n - 256)
			 : 0xc0u + (unsigned)(n - 280);
}

/* Every byte reversed (the bit-twiddling hacks' table). */
#define R2(n) n, n + 2 * 64, n + 1 * 64, n + 3 * 64
#define R4(n) R2(n), R2(n + 2 * 16), R2(n + 1 * 16), R2(n + 3 * 16)
#define R6(n) R4(n), R4(n + 2 * 4), R4(n + 1 * 4), R4(n + 3 * 4)
static const uint8_t rev8[256] = {R6(0), R6(2), R6(1), R6(3)};
#undef R2
#undef R4
#undef R6

/* The low len bits of code (len <= 15) in reverse order. */
static inline unsigned bit_reverse(unsigned code, unsigned len)
{
	return ((unsigned)rev8[code & 0xff] << 8 | rev8[(code >> 8) & 0xff]) >> (16 - len);
}

/* ---- matching ---------------------------------------------------------- */

/* zlib's UPDATE_HASH (hash_bits 15): rolled over the bytes in order, it is
 * 15 bits of the three bytes at a position. */
static inline unsigned update_hash(unsigned h, unsigned char c)
{
	return ((h << 5) ^ c) & 0x7fff;
}

/* zlib's INSERT_STRING for pos, whose hash is h: returns the previous head
 * of its chain (0: none, which zlib cannot tell from position 0 either) and
 * makes pos the head. */
static inline unsigned insert(deflate6 *d, unsigned mask, unsigned shift, unsigned pos, unsigned h)
{
	unsigned key = (h + 1) << 16;
	unsigned i = (h * 0x9e3779b1u) >> shift;
	for (;; i = (i + 1) & mask) {
		uint32_t e = d->map[i];
		if (e == 0 || (e & 0xffff0000u) == key) {
			d->map[i] = key | pos;
			unsigned head = e & 0xffff;
			d->prev[pos] = (uint16_t)head;
			return head;
		}
	}
}

/* Bytes a and b have in common, at most MAX_MATCH. */
static inline unsigned common(const unsigned char *a, const unsigned char *b)
{
	unsigned n = 0;
	while (n < MAX_MATCH) {
		uint64_t x, y;
		memcpy(&x, a + n, 8);
		memcpy(&y, b + n, 8);
		if (x != y) {
			n += (unsigned)__builtin_ctzll(x ^ y) / 8; /* little-endian loads */
			return n < MAX_MATCH ? n : MAX_MATCH;
		}
		n += 8;
	}
	return MAX_MATCH;
}

/* zlib's longest_match at level 6 for the window position start. */
static unsigned longest_match(deflate6 *d, unsigned start, unsigned lookahead, unsigned prev_length,
			      unsigned cur, unsigned *match_start)
{
	const unsigned char *scan = d->win + start;
	unsigned chain = MAX_CHAIN, best = prev_length, nice = NICE_LENGTH;
	if (prev_length >= GOOD_LENGTH)
		chain >>= 2;
	if (nice > lookahead)
		nice = lookahead;
	/* every input fits in MAX_DIST (32506), so zlib's limit is 0 */
	do {
		const unsigned char *m = d->win + cur;
		if (m[best] != scan[best] || m[best - 1] != scan[best - 1] || m[0] != scan[0] ||
		    m[1] != scan[1])
			continue;
		unsigned len = common(scan, m);
		if (len > best) {
			*match_start = cur;
			best = len;
			if (len >= nice)
				break;
		}
	} while ((cur = d->prev[cur]) > 0 && --chain != 0);
	return best <= lookahead ? best : lookahead;
}

/* Symbol i of the block: a literal, or a match (zlib's _tr_tally_*). */
static inline void tally_lit(deflate6 *d, unsigned i, unsigned c)
{
	d->sym_dist[i] = 0;
	d->sym_lc[i] = (uint8_t)c;
	d->lt.freq[c]++;
}

static inline void tally_match(deflate6 *d, unsigned i, unsigned dist, unsigned lc)
{
	d->sym_dist[i] = (uint16_t)dist;
	d->sym_lc[i] = (uint8_t)lc;
	d->lt.freq[length_code(lc) + LITERALS + 1]++;
	d->dt.freq[dist_code(dist - 1)]++;
}

/* zlib's deflate_slow over the whole input with Z_FINISH; returns the
 * number of symbols tallied. */
static unsigned match_all(deflate6 *d, unsigned n)
{
	unsigned bits = 6;
	while ((1u << bits) < 2 * n)
		bits++;
	unsigned mask = (1u << bits) - 1, shift = 32 - bits;
	memset(d->map, 0, sizeof(d->map[0]) << bits);
	/* every position up to n - MIN_MATCH is inserted once, in order (as
	 * deflate_slow passes them), so zlib's ins_h rolls along */
	unsigned ins_h = update_hash(d->win[0], d->win[1]);

	unsigned nsym = 0, strstart = 0, lookahead = n;
	unsigned match_length = MIN_MATCH - 1, match_start = 0, prev_length, prev_match;
	int match_available = 0;
	while (lookahead > 0) {
		unsigned head = 0;
		if (lookahead >= MIN_MATCH)
			head = insert(d, mask, shift, strstart,
				      ins_h = update_hash(ins_h, d->win[strstart + 2]));
		/* Nothing to match here and nothing pending: the turn below
		 * would only send the previous byte as a literal and move on.
		 * Most positions of a session are such turns; take them here. */
		while (head == 0 && match_available && match_length == MIN_MATCH - 1 &&
		       lookahead > MIN_MATCH) {
			tally_lit(d, nsym++, d->win[strstart - 1]);
			strstart++;
			lookahead--;
			head = insert(d, mask, shift, strstart,
				      ins_h = update_hash(ins_h, d->win[strstart + 2]));
		}
		prev_length = match_length;
		prev_match = match_start;
		match_length = MIN_MATCH - 1;
		if (head != 0 && prev_length < MAX_LAZY) {
			match_length =
			    longest_match(d, strstart, lookahead, prev_length, head, &match_start);
			if (match_length == MIN_MATCH && strstart - match_start > TOO_FAR)
				match_length = MIN_MATCH - 1;
		}
		if (prev_length >= MIN_MATCH && match_length <= prev_length) {
			/* the previous position's match is as long: emit it and
			 * hash the positions it covers */
			unsigned max_insert = n - MIN_MATCH;
			tally_match(d, nsym++, strstart - 1 - prev_match, prev_length - MIN_MATCH);
			lookahead -= prev_length - 1;
			for (unsigned k = prev_length - 2; k; k--)
				if (++strstart <= max_insert)
					insert(d, mask, shift, strstart,
					       ins_h = update_hash(ins_h, d->win[strstart + 2]));
			match_available = 0;
			match_length = MIN_MATCH - 1;
			strstart++;
		} else if (match_available) {
			tally_lit(d, nsym++, d->win[strstart - 1]);
			strstart++;
			lookahead--;
		} else {
			match_available = 1;
			strstart++;
			lookahead--;
		}
	}
	if (match_available)
		tally_lit(d, nsym++, d->win[strstart - 1]);
	return nsym;
}

/* ---- Huffman trees, as zlib's trees.c builds them ---------------------- */

static inline void add_run(deflate6 *d, unsigned sym, unsigned xval, unsigned xbits)
{
	d->runs[d->nruns++] = (struct run){(uint8_t)sym, (uint8_t)xbits, (uint8_t)xval};
	d->bt.freq[sym]++;
}

/* A heap entry: zlib's order key, frequency then depth, above the node's
 * number, so the heap compares entries without looking anything up. zlib's
 * smaller() is freq[a] < freq[b] || (freq[a] == freq[b] && depth[a] <=
 * depth[b]): the key compare below, ties included. Frequencies are at most
 * DEFLATE6_MAX + 2 (a tree's symbols plus fake ones) and depths fit zlib's
 * unsigned char. */
enum { NODE_BITS = 10, DEPTH_BITS = 8 };

static inline uint64_t heap_entry(unsigned freq, unsigned depth, unsigned node)
{
	return (uint64_t)freq << (NODE_BITS + DEPTH_BITS) | (uint64_t)depth << NODE_BITS | node;
}

static inline unsigned entry_node(uint64_t e)
{
	return (unsigned)(e & ((1u << NODE_BITS) - 1));
}

static inline unsigned entry_depth(uint64_t e)
{
	return (unsigned)(e >> NODE_BITS) & ((1u << DEPTH_BITS) - 1);
}

static inline unsigned entry_freq(uint64_t e)
{
	return (unsigned)(e >> (NODE_BITS + DEPTH_BITS));
}

static inline int smaller(uint64_t a, uint64_t b)
{
	/* a's key <= b's key, whatever the node numbers */
	return a <= (b | ((1u << NODE_BITS) - 1));
}

static void heap_down(deflate6 *d, int k)
{
	uint64_t v = d->heap[k];
	int len = d->heap_len;
	for (int j = k << 1; j <= len; j <<= 1) {
		if (j < len && smaller(d->heap[j + 1], d->heap[j]))
			j++;
		if (smaller(v, d->heap[j]))
			break;
		d->heap[k] = d->heap[j];
		k = j;
	}
	d->heap[k] = v;
}

static inline unsigned extra_bits(enum tree_kind k, int n)
{
	switch (k) {
	case TREE_LIT: return n > LITERALS ? extra_lbits[n - LITERALS - 1] : 0;
	case TREE_DIST: return extra_dbits((unsigned)n);
	default: return extra_blbits[n];
	}
}

/* Bit lengths from the finished tree, limited to max_length the way zlib
 * repairs an overflow; adds the block's cost to opt_len (and static_len). */
static void gen_bitlen(deflate6 *d, struct tree *t, enum tree_kind k, int max_length)
{
	int overflow = 0, h;
	memset(d->bl_count, 0, sizeof(d->bl_count));
	t->len[d->order[d->heap_max]] = 0; /* the root */
	for (h = d->heap_max + 1; h < HEAP_SIZE; h++) {
		int n = d->order[h];
		int bits = t->len[t->dad[n]] + 1;
		if (bits > max_length) {
			bits = max_length;
			overflow++;
		}
		t->len[n] = (uint16_t)bits;
		if (n > t->max_code)
			continue; /* an internal node */
		d->bl_count[bits]++;
		unsigned xbits = extra_bits(k, n), f = t->freq[n];
		d->opt_len += (unsigned long)f * (bits + xbits);
		if (k != TREE_BL)
			d->static_len += (unsigned long)f * (fixed_len(k, n) + xbits);
	}
	if (overflow == 0)
		return;
	do {
		int bits = max_length - 1;
		while (d->bl_count[bits] == 0)
			bits--;
		d->bl_count[bits]--;
		d->bl_count[bits + 1] += 2;
		d->bl_count[max_length]--;
		overflow -= 2;
	} while (overflow > 0);
	for (int bits = max_length; bits != 0; bits--) {
		for (int c = d->bl_count[bits]; c != 0;) {
			int m = d->order[--h];
			if (m > t->max_code)
				continue;
			if (t->len[m] != bits) {
				d->opt_len += ((unsigned long)bits - t->len[m]) * t->freq[m];
				t->len[m] = (uint16_t)bits;
			}
			c--;
		}
	}
}

/* Canonical codes for the lengths, bit-reversed for LSB-first output; only
 * the leaves have a length, so only they are visited (in symbol order). */
static void gen_codes(deflate6 *d, struct tree *t)
{
	unsigned next[MAX_BITS + 1], code = 0;
	for (int bits = 1; bits <= MAX_BITS; bits++) {
		code = (code + d->bl_count[bits - 1]) << 1;
		next[bits] = code;
	}
	for (int i = 0; i < t->nleaves; i++) {
		unsigned n = t->leaves[i], len = t->len[n];
		t->code[n] = (uint16_t)bit_reverse(next[len]++, len);
	}
}

static void build_tree(deflate6 *d, struct tree *t, enum tree_kind k, int elems, int max_length)
{
	int max_code = -1;
	d->heap_len = 0;
	d->heap_max = HEAP_SIZE;
	memset(t->len, 0, (size_t)elems * sizeof(t->len[0]));
	t->nleaves = 0;
	for (int n = 0; n < elems; n += 4) {
		uint64_t four; /* sparse histograms: skip four empty symbols at once */
		memcpy(&four, &t->freq[n], sizeof(four));
		if (four == 0)
			continue;
		for (int i = n; i < n + 4 && i < elems; i++) {
			if (t->freq[i]) {
				d->heap[++d->heap_len] = heap_entry(t->freq[i], 0, (unsigned)i);
				max_code = i;
				t->leaves[t->nleaves++] = (uint16_t)i;
			}
		}
	}
	/* deflate wants two codes at least: zlib adds fake ones of frequency 1
	 * and takes their cost back out */
	while (d->heap_len < 2) {
		int node = max_code < 2 ? ++max_code : 0;
		d->heap[++d->heap_len] = heap_entry(1, 0, (unsigned)node);
		t->freq[node] = 1;
		if (node == 0) { /* below every other symbol */
			memmove(t->leaves + 1, t->leaves,
				(size_t)t->nleaves * sizeof(t->leaves[0]));
			t->leaves[0] = 0;
			t->nleaves++;
		} else {
			t->leaves[t->nleaves++] = (uint16_t)node;
		}
		d->opt_len--;
		if (k != TREE_BL)
			d->static_len -= fixed_len(k, node);
	}
	t->max_code = max_code;
	for (int n = d->heap_len / 2; n >= 1; n--)
		heap_down(d, n);
	int node = elems;
	do {
		uint64_t a = d->heap[1];
		d->heap[1] = d->heap[d->heap_len--];
		heap_down(d, 1);
		uint64_t b = d->heap[1];
		d->order[--d->heap_max] = (uint16_t)entry_node(a);
		d->order[--d->heap_max] = (uint16_t)entry_node(b);
		unsigned da = entry_depth(a), db = entry_depth(b);
		/* internal nodes' frequencies live in their entries only: gen_bitlen
		 * reads the leaves' */
		d->heap[1] = heap_entry(entry_freq(a) + entry_freq(b),
					(uint8_t)((da >= db ? da : db) + 1), (unsigned)node);
		t->dad[entry_node(a)] = t->dad[entry_node(b)] = (uint16_t)node;
		node++;
		heap_down(d, 1);
	} while (d->heap_len >= 2);
	d->order[--d->heap_max] = (uint16_t)entry_node(d->heap[1]);
	gen_bitlen(d, t, k, max_length);
	gen_codes(d, t);
}

/* zlib's scan_tree: the run-length coding of a tree's code lengths, counted
 * into the bit-length tree and kept in d->runs for sending. zlib counts
 * symbol by symbol up to max_code; the lengths are zero but at the leaves,
 * so here the maximal runs of one length come from the leaf list, and each
 * is cut where that counting cuts it:
 * - zeros: pieces of 138 (REPZ_11_138), then the rest as 1-2 zeros,
 *   REPZ_3_10 or REPZ_11_138;
 * - a length: a first piece of up to 7, sent as itself when under 4, else
 *   as the length once and REP_3_6 for the rest; then pieces of up to 6,
 *   each REP_3_6, or the length itself when under 3.
 * A run never follows one of the same length, so the first piece never
 * finds its length already sent (zlib's prevlen test). */
static void zero_run(deflate6 *d, unsigned n)
{
	for (; n >= 138; n -= 138)
		add_run(d, REPZ_11_138, 138 - 11, 7);
	if (n >= 11)
		add_run(d, REPZ_11_138, n - 11, 7);
	else if (n >= 3)
		add_run(d, REPZ_3_10, n - 3, 3);
	else
		while (n--)
			add_run(d, 0, 0, 0);
}

static void length_run(deflate6 *d, unsigned len, unsigned n)
{
	unsigned c = n < 7 ? n : 7;
	n -= c;
	if (c < 4) {
		while (c--)
			add_run(d, len, 0, 0);
	} else {
		add_run(d, len, 0, 0);
		add_run(d, REP_3_6, c - 1 - 3, 2);
	}
	for (; n > 0; n -= c) {
		c = n < 6 ? n : 6;
		if (c < 3)
			for (unsigned k = 0; k < c; k++)
				add_run(d, len, 0, 0);
		else
			add_run(d, REP_3_6, c - 3, 2);
	}
}

static void scan_runs(deflate6 *d, const struct tree *t)
{
	unsigned next = 0; /* the first symbol not yet coded */
	for (int i = 0; i < t->nleaves;) {
		unsigned sym = t->leaves[i], len = t->len[sym], n = 1;
		if (sym > next)
			zero_run(d, sym - next);
		while (i + (int)n < t->nleaves && t->leaves[i + n] == sym + n &&
		       t->len[sym + n] == len)
			n++;
		length_run(d, len, n);
		i += (int)n;
		next = sym + n;
	}
	/* the last leaf is max_code: nothing follows */
}

/* ---- output ------------------------------------------------------------ */

struct bits {
	unsigned char *p;
	uint64_t buf;
	unsigned n;
};

static inline void put_bits(struct bits *b, unsigned v, unsigned len)
{
	b->buf |= (uint64_t)v << b->n;
	b->n += len;
	if (b->n >= 32) {
		for (int i = 0; i < 4; i++)
			*b->p++ = (unsigned char)(b->buf >> (8 * i));
		b->buf >>= 32;
		b->n -= 32;
	}
}

static inline void put_bytes_aligned(struct bits *b)
{
	for (; b->n > 0; b->n = b->n > 8 ? b->n - 8 : 0, b->buf >>= 8)
		*b->p++ = (unsigned char)b->buf;
	b->buf = 0;
}

static inline void send_sym(struct bits *b, const struct tree *t, enum tree_kind k, int dyn,
			    unsigned n)
{
	if (dyn)
		put_bits(b, t->code[n], t->len[n]);
	else
		put_bits(b, bit_reverse(fixed_code(k, (int)n), fixed_len(k, (int)n)),
			 fixed_len(k, (int)n));
}

static void compress_syms(deflate6 *d, struct bits *b, unsigned nsym, int dyn)
{
	for (unsigned i = 0; i < nsym; i++) {
		unsigned dist = d->sym_dist[i], lc = d->sym_lc[i];
		if (dist == 0) {
			send_sym(b, &d->lt, TREE_LIT, dyn, lc);
			continue;
		}
		unsigned code = length_code(lc);
		send_sym(b, &d->lt, TREE_LIT, dyn, code + LITERALS + 1);
		unsigned x = extra_lbits[code];
		if (x)
			put_bits(b, lc & ((1u << x) - 1), x);
		dist--;
		code = dist_code(dist);
		send_sym(b, &d->dt, TREE_DIST, dyn, code);
		x = extra_dbits(code);
		if (x)
			put_bits(b, dist & ((1u << x) - 1), x);
	}
	send_sym(b, &d->lt, TREE_LIT, dyn, END_BLOCK);
}

int deflate6_compress(deflate6 *d, const void *in, size_t n, void *out, size_t cap, size_t *ret_len)
{
	if (n > DEFLATE6_MAX)
		return SG_ETOOBIG;
	memcpy(d->win, in, n);
	memset(d->win + n, 0, PAD);
	memset(d->lt.freq, 0, L_CODES * sizeof(d->lt.freq[0]));
	memset(d->dt.freq, 0, D_CODES * sizeof(d->dt.freq[0]));
	memset(d->bt.freq, 0, BL_CODES * sizeof(d->bt.freq[0]));
	d->lt.freq[END_BLOCK] = 1;
	d->opt_len = d->static_len = 0;
	unsigned nsym = match_all(d, (unsigned)n);

	/* zlib's _tr_flush_block for the last (only) block */
	build_tree(d, &d->lt, TREE_LIT, L_CODES, MAX_BITS);
	build_tree(d, &d->dt, TREE_DIST, D_CODES, MAX_BITS);
	d->nruns = 0;
	scan_runs(d, &d->lt);
	scan_runs(d, &d->dt);
	build_tree(d, &d->bt, TREE_BL, BL_CODES, MAX_BL_BITS);
	int max_blindex = BL_CODES - 1;
	while (max_blindex >= 3 && d->bt.len[bl_order[max_blindex]] == 0)
		max_blindex--;
	d->opt_len += 3 * ((unsigned long)max_blindex + 1) + 5 + 5 + 4;
	unsigned long opt_lenb = (d->opt_len + 3 + 7) >> 3;
	unsigned long static_lenb = (d->static_len + 3 + 7) >> 3;
	if (static_lenb <= opt_lenb)
		opt_lenb = static_lenb;
	int stored = n + 4 <= opt_lenb;
	size_t block = stored ? 1 + 4 + n : opt_lenb;
	size_t total = 2 + block + 4;
	if (total > cap)
		return SG_ETOOBIG;

	unsigned char *o = out;
	struct bits b = {.p = o + 2};
	o[0] = 0x78; /* deflate, 32 KiB window */
	o[1] = 0x9c; /* level 6, no dictionary, check bits */
	if (stored) {
		put_bits(&b, 0 << 1 | 1, 3);
		put_bytes_aligned(&b);
		*b.p++ = (unsigned char)n;
		*b.p++ = (unsigned char)(n >> 8);
		*b.p++ = (unsigned char)~n;
		*b.p++ = (unsigned char)(~n >> 8);
		memcpy(b.p, in, n);
		b.p += n;
	} else if (static_lenb == opt_lenb) {
		put_bits(&b, 1 << 1 | 1, 3);
		compress_syms(d, &b, nsym, 0);
	} else {
		put_bits(&b, 2 << 1 | 1, 3);
		put_bits(&b, (unsigned)d->lt.max_code + 1 - 257, 5);
		put_bits(&b, (unsigned)d->dt.max_code + 1 - 1, 5);
		put_bits(&b, (unsigned)max_blindex + 1 - 4, 4);
		for (int r = 0; r <= max_blindex; r++)
			put_bits(&b, d->bt.len[bl_order[r]], 3);
		for (unsigned i = 0; i < d->nruns; i++) {
			const struct run *r = &d->runs[i];
			put_bits(&b, d->bt.code[r->sym], d->bt.len[r->sym]);
			if (r->xbits)
				put_bits(&b, r->xval, r->xbits);
		}
		compress_syms(d, &b, nsym, 1);
	}
	put_bytes_aligned(&b);
	uLong a = adler32(adler32(0, Z_NULL, 0), in, (uInt)n);
	for (int i = 3; i >= 0; i--)
		*b.p++ = (unsigned char)(a >> (8 * i));
	*ret_len = (size_t)(b.p - o);
	return 0;
}

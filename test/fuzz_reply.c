/*
 * libFuzzer target for what etrn does with bytes from a server: the pure
 * parsers (line_split, reply_line_parse, reply_add, ehlo_has, ehlo_param),
 * escape() and outcome_reply() that put them on a terminal,
 * json_escape() and json_write() that put them in --json, and
 * conn_read_reply() reading the same bytes from a socket.  Each checks
 * the promises etrn.h makes; a broken one aborts, as a sanitizer report
 * does.  Build and run: `make fuzz` (clang, -fsanitize=fuzzer,address,
 * undefined), seeds in test/fuzz-corpus/.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <sanitizer/asan_interface.h>

#include "etrn.h"

int LLVMFuzzerTestOneInput(const unsigned char *, size_t);

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "fuzz_reply.c:%d: broken: %s\n",	\
		    __LINE__, #cond);					\
		abort();						\
	}								\
} while (0)

/* The checks' own branches are no news to the fuzzer: not instrumented. */
#define PLAIN_CHECK __attribute__((no_sanitize("coverage")))

/* What a server can send in one test: more than the socket takes at once. */
#define SOCKET_INPUT_MAX (64 * 1024)

PLAIN_CHECK static bool
printable(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return false;
	return true;
}

/* The spec's escaping, written plainly: \xHH outside 0x20..0x7e, \\. */
PLAIN_CHECK static size_t
escape_ref(char *dst, const char *src, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '\\')
			n += (size_t)sprintf(dst + n, "\\\\");
		else if (c < 0x20 || c > 0x7e)
			n += (size_t)sprintf(dst + n, "\\x%02x", c);
		else
			dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return n;
}

/* Whether n octets of src's escaped form end between two escapes. */
PLAIN_CHECK static bool
escape_boundary(const char *src, size_t len, size_t n)
{
	size_t i, at = 0;

	for (i = 0; i < len && at < n; i++) {
		unsigned char c = (unsigned char)src[i];

		at += c == '\\' ? 2 : c < 0x20 || c > 0x7e ? 4 : 1;
	}
	return at == n;
}

/*
 * escape() into small sizes, sizes around the whole and two between: a
 * terminated prefix, cut between whole escapes and only when full.
 */
static void
check_escape(const char *src, size_t len)
{
	static char full[4 * REPLY_TEXT_MAX + 1], ref[4 * REPLY_TEXT_MAX + 1];
	size_t sizes[20], nsizes = 0, n, fulln, size, k;
	char *dst;

	fulln = escape(full, sizeof(full), src, len);
	CHECK(fulln == escape_ref(ref, src, len));
	CHECK(memcmp(full, ref, fulln + 1) == 0);
	for (k = 0; k < 5; k++) {
		sizes[nsizes++] = k;
		if (fulln + 1 >= k + 5)
			sizes[nsizes++] = fulln + 1 - k;
	}
	sizes[nsizes++] = fulln / 2;
	sizes[nsizes++] = fulln / 3;
	for (k = 0; k < nsizes; k++) {
		size = sizes[k];
		/* Exactly size octets, so that ASan sees any overrun. */
		dst = malloc(size > 0 ? size : 1);
		CHECK(dst != NULL);
		n = escape(dst, size, src, len);
		if (size == 0)
			CHECK(n == 0);
		else {
			CHECK(n < size && dst[n] == '\0');
			CHECK(memcmp(dst, full, n) == 0);
			CHECK(n == fulln || n + 4 >= size);
			CHECK(escape_boundary(src, len, n));
		}
		free(dst);
	}
}

/* The JSON escaping, written plainly: \" \\ and \u00HH outside ASCII. */
PLAIN_CHECK static size_t
json_escape_ref(char *dst, const char *src, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)src[i];

		if (c == '"' || c == '\\')
			n += (size_t)sprintf(dst + n, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			n += (size_t)sprintf(dst + n, "\\u%04x", c);
		else
			dst[n++] = (char)c;
	}
	dst[n] = '\0';
	return n;
}

/*
 * json_escape() whole and into small sizes, and json_write() on an
 * outcome of the bytes: printable ASCII, one line, bounded.
 */
static void
check_json(const char *src, size_t len)
{
	static char full[6 * REPLY_TEXT_MAX + 1], ref[6 * REPLY_TEXT_MAX + 1];
	static struct attempts att;
	char *node[1] = { "example.org" }, *doc = NULL, small[7];
	struct options o = { .nodes = node, .nnodes = 1 };
	struct outcome out;
	size_t n, k, doclen = 0;
	FILE *f;

	n = json_escape(full, sizeof(full), src, len);
	CHECK(n == json_escape_ref(ref, src, len));
	CHECK(memcmp(full, ref, n + 1) == 0);
	CHECK(printable(full, n));
	for (k = 0; k <= sizeof(small); k++) {
		size_t m = json_escape(small, k, src, len);

		CHECK(k == 0 ? m == 0 : m < k && small[m] == '\0' &&
		    memcmp(small, full, m) == 0);
	}
	memset(&out, 0, sizeof(out));
	peer_set(&out.peer, "mx.test", NULL);
	snprintf(out.text, sizeof(out.text), "250 %.*s", (int)(len <
	    OUTCOME_TEXT_MAX - 5 ? len : OUTCOME_TEXT_MAX - 5), src);
	att.n = 1;
	att.v[0].peer = out.peer;
	memcpy(att.v[0].text, out.text, sizeof(out.text));
	CHECK((f = open_memstream(&doc, &doclen)) != NULL);
	CHECK(json_write(f, &o, &out, 1, &att, 0));
	fclose(f);
	CHECK(doclen > 0 && doc[doclen - 1] == '\n');
	CHECK(printable(doc, doclen - 1));
	free(doc);
}

/* keyword as the first word of a line after the first, any case. */
PLAIN_CHECK static bool
ehlo_has_ref(const struct reply *r, const char *kw)
{
	size_t klen = strlen(kw);
	const char *line, *end = r->text + r->len, *nl;
	bool first = true;

	for (line = r->text; line <= end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if (!first && (size_t)(nl - line) >= klen &&
		    strncasecmp(line, kw, klen) == 0 &&
		    ((size_t)(nl - line) == klen || line[klen] == ' '))
			return true;
		first = false;
		if (nl == end)
			break;
	}
	return false;
}

/* The line "keyword param..." lists param among space-separated words. */
PLAIN_CHECK static bool
ehlo_param_ref(const struct reply *r, const char *kw, const char *param)
{
	size_t klen = strlen(kw), plen = strlen(param);
	const char *line, *end = r->text + r->len, *nl, *p, *w;
	bool first = true;

	for (line = r->text; line <= end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if (!first && (size_t)(nl - line) > klen && line[klen] == ' ' &&
		    strncasecmp(line, kw, klen) == 0) {
			for (p = line + klen + 1; p < nl; p = w + 1) {
				if ((w = memchr(p, ' ', (size_t)(nl - p))) ==
				    NULL)
					w = nl;
				if ((size_t)(w - p) == plen &&
				    strncasecmp(p, param, plen) == 0)
					return true;
			}
		}
		first = false;
		if (nl == end)
			break;
	}
	return false;
}

/*
 * The capability parsers on a complete reply, with the unused tail of
 * r->text poisoned so that ASan catches a read past the terminator.
 */
static void
check_capabilities(struct reply *r, const char *kw)
{
	static const char *const kws[][2] = {
		{ "ETRN", NULL }, { "STARTTLS", NULL }, { "AUTH", "PLAIN" },
		{ "AUTH", "LOGIN" }, { "SIZE", "10240000" }, { "E", NULL },
	};
	size_t i, nl = 0;

	CHECK(r->len < sizeof(r->text) && r->text[r->len] == '\0');
	for (i = 0; i < r->len; i++)
		nl += r->text[i] == '\n';
	CHECK(r->nlines >= 1 && r->nlines <= REPLY_LINES_MAX &&
	    nl == r->nlines - 1);
	CHECK(r->code >= 200 && r->code <= 599);

	ASAN_POISON_MEMORY_REGION(r->text + r->len + 1,
	    sizeof(r->text) - r->len - 1);
	for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
		CHECK(ehlo_has(r, kws[i][0]) == ehlo_has_ref(r, kws[i][0]));
		if (kws[i][1] != NULL)
			CHECK(ehlo_param(r, kws[i][0], kws[i][1]) ==
			    ehlo_param_ref(r, kws[i][0], kws[i][1]));
	}
	if (kw[0] != '\0') {
		CHECK(ehlo_has(r, kw) == ehlo_has_ref(r, kw));
		CHECK(ehlo_param(r, "AUTH", kw) ==
		    ehlo_param_ref(r, "AUTH", kw));
		CHECK(ehlo_param(r, kw, "X") == ehlo_param_ref(r, kw, "X"));
	}
	ASAN_UNPOISON_MEMORY_REGION(r->text + r->len + 1,
	    sizeof(r->text) - r->len - 1);
}

/* A result line's text: "CODE text / text", escaped, bounded. */
static void
check_outcome(const struct reply *r)
{
	static char want[4 * REPLY_TEXT_MAX + 64];
	struct outcome out;
	size_t n, i, line, len;
	const char *nl;

	struct peer p;

	peer_set(&p, "mx.test", NULL);
	memset(&out, 0x55, sizeof(out));
	outcome_reply(&out, ST_STARTED, &p, r);
	n = strnlen(out.text, sizeof(out.text));
	CHECK(n < sizeof(out.text));
	CHECK(printable(out.text, n));
	CHECK(out.code == r->code);
	CHECK(n >= 3 && (size_t)(out.text[0] - '0') == (size_t)r->code / 100);
	/* Lines joined by " / ": an empty first line adds nothing. */
	n = (size_t)sprintf(want, "%03d", r->code);
	for (i = 0; i < r->len; i += line + 1) {
		nl = memchr(r->text + i, '\n', r->len - i);
		line = nl != NULL ? (size_t)(nl - (r->text + i)) : r->len - i;
		if (i == 0 && line == 0)
			continue;
		n += (size_t)sprintf(want + n, "%s", i == 0 ? " " : " / ");
		n += escape_ref(want + n, r->text + i, line);
	}
	/* Cut to fit, possibly in the middle of an escape or a separator. */
	len = strlen(out.text);
	CHECK(strncmp(out.text, want, len) == 0);
	CHECK(len == n || len == sizeof(out.text) - 1);
}

/*
 * The parsers on data as conn_read_reply() feeds them: whole lines from
 * line_split, each parsed and added until a line says no more follow.
 */
static void
check_parsers(const unsigned char *data, size_t size)
{
	const char *buf = (const char *)data;
	struct reply r, before;
	struct reply_line rl;
	enum reply_error e;
	size_t off = 0, used, len;
	char kw[9] = "";
	char *line;

	memset(&r, 0, sizeof(r));
	while ((used = line_split(buf + off, size - off, &len)) != 0) {
		CHECK(used <= size - off && len < used);
		CHECK(buf[off + used - 1] == '\n');
		CHECK(memchr(buf + off, '\n', len) == NULL);
		CHECK(len + 1 == used || (len + 2 == used &&
		    buf[off + len] == '\r'));

		/* An exact-size copy: ASan sees any read past the line. */
		line = malloc(len > 0 ? len : 1);
		CHECK(line != NULL);
		memcpy(line, buf + off, len);
		off += used;
		memset(&rl, 0, sizeof(rl));
		e = reply_line_parse(line, len, &rl);
		if (e != REPLY_OK) {
			CHECK(e == REPLY_MALFORMED || e == REPLY_BAD_CODE ||
			    e == REPLY_TOO_LONG);
			CHECK(e != REPLY_TOO_LONG || len > REPLY_LINE_MAX);
			free(line);
			memset(&r, 0, sizeof(r));
			continue;
		}
		CHECK(len >= 3 && len <= REPLY_LINE_MAX);
		CHECK(rl.code >= 200 && rl.code <= 599);
		CHECK(rl.code == (line[0] - '0') * 100 + (line[1] - '0') * 10 +
		    (line[2] - '0'));
		CHECK(rl.text >= line && rl.text + rl.textlen == line + len);
		CHECK(rl.more == (len > 3 && line[3] == '-'));
		CHECK(len == 3 || line[3] == ' ' || line[3] == '-');
		if (kw[0] == '\0' && rl.textlen > 0) {
			snprintf(kw, sizeof(kw), "%.*s", (int)(rl.textlen <
			    sizeof(kw) - 1 ? rl.textlen : sizeof(kw) - 1),
			    rl.text);
			kw[strcspn(kw, " ")] = '\0';
		}

		before = r;
		e = reply_add(&r, &rl);
		free(line);
		if (e != REPLY_OK) {
			CHECK(e == REPLY_MISMATCH || e == REPLY_TOO_MANY);
			CHECK(e != REPLY_MISMATCH || rl.code != before.code);
			CHECK(r.code == before.code && r.len == before.len &&
			    r.nlines == before.nlines);
			memset(&r, 0, sizeof(r));
			continue;
		}
		CHECK(r.nlines == before.nlines + 1 && r.code == rl.code);
		CHECK(r.len == before.len + rl.textlen + (before.nlines > 0));
		if (!rl.more) {
			check_capabilities(&r, kw);
			check_outcome(&r);
			check_escape(r.text, r.len);
			check_json(r.text, r.len);
			memset(&r, 0, sizeof(r));
		}
	}
	check_escape(buf + off, size - off);
	check_json(buf + off, size - off);
}

/*
 * The same bytes from a socket through conn_reply_more() until it stops:
 * it must stop (never ask to wait for bytes already sent), fill complete
 * replies only, and say why it stopped.
 */
static void
check_conn(const unsigned char *data, size_t size)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	static struct reply r;
	struct conn c;
	size_t sent = 0, replies = 0;
	ssize_t n;
	int sv[2];
	enum io io;

	if (size > SOCKET_INPUT_MAX)
		size = SOCKET_INPUT_MAX;
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
	while (sent < size &&
	    (n = write(sv[1], data + sent, size - sent)) > 0)
		sent += (size_t)n;
	shutdown(sv[1], SHUT_WR);
	conn_init(&c, sv[0], "mx.test", (struct sockaddr *)&sin, false);
	for (;;) {
		r.nlines = 0;
		io = conn_reply_more(&c, &r);
		CHECK(c.len <= sizeof(c.buf));
		CHECK(io != IO_AGAIN && io != IO_TIMEOUT && io != IO_TLS);
		if (io != IO_OK)
			break;
		CHECK(r.code >= 200 && r.code <= 599);
		CHECK(r.len < sizeof(r.text) && r.text[r.len] == '\0');
		replies++;
		CHECK(replies <= sent / 4 + 1);
	}
	CHECK(io == IO_CLOSED || io == IO_BAD_REPLY || io == IO_ERROR);
	if (io == IO_BAD_REPLY)
		CHECK(c.reply_error > REPLY_OK &&
		    c.reply_error <= REPLY_TOO_MANY);
	CHECK(conn_reason(&c, io) != NULL);
	conn_close(&c);
	close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	check_parsers(data, size);
	check_conn(data, size);
	return 0;
}

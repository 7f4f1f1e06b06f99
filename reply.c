/*
 * The pure parts of SMTP text: reply lines (RFC 5321 section 4.2) and the
 * EHLO capability list (section 4.1.1.1).  Nothing here reads a socket,
 * prints or exits.
 */
#include <string.h>
#include <strings.h>

#include "etrn.h"

/*
 * Find the first line in buf: returns the bytes it takes, line end
 * included, or 0 while it is incomplete.  A line ends with LF; a CR before
 * it is not part of the line (RFC 5321 wants CRLF; a bare LF is accepted,
 * as most clients do).
 */
size_t
line_split(const char *buf, size_t len, size_t *linelen)
{
	const char *lf = memchr(buf, '\n', len);

	if (lf == NULL)
		return 0;
	*linelen = (size_t)(lf - buf);
	if (*linelen > 0 && buf[*linelen - 1] == '\r')
		--*linelen;
	return (size_t)(lf - buf) + 1;
}

/*
 * Parse one reply line, without its line ending: "ddd", "ddd text" (the
 * last line) or "ddd-text" (more follow).  RFC 5321 section 4.2 gives
 * the first digit 2 to 5 (1yz is never used in SMTP); the others are
 * taken as they come, so an unlisted 599 is still a refusal.
 */
enum reply_error
reply_line_parse(const char *s, size_t len, struct reply_line *rl)
{
	if (len < 3 || len > REPLY_LINE_MAX)
		return len < 3 ? REPLY_MALFORMED : REPLY_TOO_LONG;
	if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' ||
	    s[2] < '0' || s[2] > '9')
		return REPLY_MALFORMED;
	if (s[0] < '2' || s[0] > '5')
		return REPLY_BAD_CODE;
	if (len > 3 && s[3] != ' ' && s[3] != '-')
		return REPLY_MALFORMED;
	rl->code = (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
	rl->more = len > 3 && s[3] == '-';
	rl->text = len > 3 ? s + 4 : s + 3;
	rl->textlen = len > 3 ? len - 4 : 0;
	return REPLY_OK;
}

/*
 * Add a parsed line to a reply.  Every line of a reply carries the same
 * code (RFC 5321 section 4.2.1); the reply's size is bounded.
 */
enum reply_error
reply_add(struct reply *r, const struct reply_line *rl)
{
	size_t need = rl->textlen + (r->nlines > 0);

	if (r->nlines > 0 && rl->code != r->code)
		return REPLY_MISMATCH;
	if (r->nlines == REPLY_LINES_MAX || r->len + need >= sizeof(r->text))
		return REPLY_TOO_MANY;
	if (r->nlines > 0)
		r->text[r->len++] = '\n';
	memcpy(r->text + r->len, rl->text, rl->textlen);
	r->len += rl->textlen;
	r->text[r->len] = '\0';
	r->code = rl->code;
	r->more = rl->more;
	r->nlines++;
	return REPLY_OK;
}

/*
 * Whether an EHLO reply advertises keyword: the first word of a line
 * after the first, in any case (RFC 5321 section 4.1.1.1; the first line
 * names the server).
 */
bool
ehlo_has(const struct reply *r, const char *keyword)
{
	size_t klen = strlen(keyword);
	const char *line = r->text, *end = r->text + r->len, *nl;

	if (r->nlines < 2)
		return false;
	line = (const char *)memchr(line, '\n', r->len) + 1;
	for (; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if ((size_t)(nl - line) >= klen &&
		    strncasecmp(line, keyword, klen) == 0 &&
		    (line + klen == nl || line[klen] == ' '))
			return true;
	}
	return false;
}

/*
 * Whether the EHLO reply's line for keyword lists param among its
 * parameters, in any case: "AUTH PLAIN LOGIN" has PLAIN.
 */
bool
ehlo_param(const struct reply *r, const char *keyword, const char *param)
{
	size_t klen = strlen(keyword), plen = strlen(param);
	const char *line, *end = r->text + r->len, *nl, *p, *w;

	if (r->nlines < 2)
		return false;
	line = (const char *)memchr(r->text, '\n', r->len) + 1;
	for (; line < end; line = nl + 1) {
		if ((nl = memchr(line, '\n', (size_t)(end - line))) == NULL)
			nl = end;
		if ((size_t)(nl - line) <= klen || line[klen] != ' ' ||
		    strncasecmp(line, keyword, klen) != 0)
			continue;
		for (p = line + klen; p < nl; p = w) {
			while (p < nl && *p == ' ')
				p++;
			for (w = p; w < nl && *w != ' '; w++)
				;
			if ((size_t)(w - p) == plen &&
			    strncasecmp(p, param, plen) == 0)
				return true;
		}
	}
	return false;
}

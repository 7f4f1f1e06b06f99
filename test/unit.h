/*
 * What more than one cmocka unit test needs; included after <cmocka.h>
 * and etrn.h.
 */
#ifndef UNIT_H
#define UNIT_H

#include <string.h>

/* Parse a whole reply given as wire text with CRLF line ends. */
static enum reply_error
parse(const char *wire, struct reply *r)
{
	struct reply_line rl;
	enum reply_error e;
	const char *line = wire, *end;

	memset(r, 0, sizeof(*r));
	for (;;) {
		end = strstr(line, "\r\n");
		assert_non_null(end);
		if ((e = reply_line_parse(line, (size_t)(end - line), &rl)) !=
		    REPLY_OK || (e = reply_add(r, &rl)) != REPLY_OK)
			return e;
		if (!rl.more)
			return REPLY_OK;
		line = end + 2;
	}
}

#endif /* UNIT_H */

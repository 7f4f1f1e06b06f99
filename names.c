/*
 * What a name may be where etrn sends or looks it up: a domain (RFC 1035
 * section 2.3.4, RFC 5321 section 4.5.3.1.2), an ETRN node (RFC 1985
 * section 3), an EHLO argument (RFC 5321 section 4.1.4).  Pure.
 */
#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "etrn.h"

/* Whether s is printable ASCII without spaces: what a command may carry. */
static bool
printable(const char *s, const char **why)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == ' ')
			return *why = "contains a space", false;
		if (c < 0x20 || c == 0x7f)
			return *why = "contains a control character", false;
		if (c > 0x7f)
			return *why = "contains a non-ASCII byte", false;
	}
	return true;
}

/*
 * Whether s is a domain name: printable ASCII without spaces, labels of
 * 1 to LABEL_MAX octets, DOMAIN_MAX in all.  A final dot is allowed only
 * where the name is looked up, never where it is sent.
 */
bool
domain_valid(const char *s, bool final_dot, const char **why)
{
	const char *p, *label = s;
	size_t len = strlen(s);
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (!printable(s, why))
		return false;
	if (final_dot && len > 1 && s[len - 1] == '.')
		len--;
	if (len == 0)
		return *why = "is empty", false;
	if (len > DOMAIN_MAX)
		return *why = "is longer than 253 octets", false;
	for (p = s; p <= s + len; p++) {
		if (p < s + len && *p != '.')
			continue;
		if (p == label)
			return *why = "has an empty label", false;
		if (p - label > LABEL_MAX)
			return *why = "has a label longer than 63 octets",
			    false;
		label = p + 1;
	}
	return true;
}

/*
 * Whether s is a host name (RFC 1123 section 2.1, RFC 952): a domain
 * whose labels are letters, digits and hyphens, none starting or ending
 * with a hyphen.  A name only of digits and dots is no host name: it
 * would be a malformed IPv4 address.
 */
bool
host_name_valid(const char *s, bool final_dot, const char **why)
{
	const char *p, *dummy;
	bool numeric = true;

	if (why == NULL)
		why = &dummy;
	if (!domain_valid(s, final_dot, why))
		return false;
	for (p = s; *p != '\0'; p++) {
		if (*p == '-' && (p == s || p[-1] == '.' || p[1] == '.' ||
		    p[1] == '\0'))
			return *why = "has a label starting or ending with "
			    "'-'", false;
		if (*p != '-' && *p != '.' && !(*p >= '0' && *p <= '9') &&
		    !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z'))
			return *why = "has a character other than a letter, "
			    "a digit, '-' or '.'", false;
		if (*p != '.' && !(*p >= '0' && *p <= '9'))
			numeric = false;
	}
	if (numeric)
		return *why = "is not an IPv4 address", false;
	return true;
}

/*
 * name as ASCII into out: a name with a byte over 0x7f is taken as
 * UTF-8, whatever the locale (cron has none), and turned into A-labels
 * by IDNA2008 with UTS #46 mapping, non-transitional (RFC 5891, UTS #46
 * section 4); any other name is copied as it is.  Returns false with
 * *why libidn2's reason, or "longer than 253 octets".  libidn2 must be
 * loaded before the first name with a byte over 0x7f.
 */
bool
idn_to_ascii(const char *name, char *out, size_t outlen, const char **why)
{
	const char *p;
	char *ascii;
	int rc;

	for (p = name; *p != '\0' && (unsigned char)*p < 0x80; p++)
		;
	if (*p == '\0') {
		ascii = NULL;
		p = name;
	} else {
		rc = idn2_to_ascii_8z(name, &ascii,
		    IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
		if (rc != IDN2_OK)
			return *why = idn2_strerror(rc), false;
		p = ascii;
	}
	if (strlen(p) >= outlen) {
		if (ascii != NULL)
			idn2_free(ascii);
		return *why = "longer than 253 octets", false;
	}
	memcpy(out, p, strlen(p) + 1);
	/* An ASCII name needs no libidn2, which may not be loaded. */
	if (ascii != NULL)
		idn2_free(ascii);
	return true;
}

/*
 * Whether node, as the user typed it, may stand in result lines: no
 * space and no control byte (C0, DEL, or C1 in UTF-8), so that no field
 * but the last has a space and nothing reaches a terminal raw.
 */
bool
node_printable(const char *node)
{
	const unsigned char *p;

	for (p = (const unsigned char *)node; *p != '\0'; p++)
		if (*p <= ' ' || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return false;
	return true;
}

/*
 * Whether node can follow ETRN (RFC 1985 section 3): a domain, @domain
 * for its subdomains too, or #queue; the command fits in
 * COMMAND_LINE_MAX.
 */
bool
node_valid(const char *node, const char **why)
{
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (strlen("ETRN ") + strlen(node) + strlen("\r\n") > COMMAND_LINE_MAX)
		return *why = "makes a command longer than 512 octets", false;
	if (node[0] != '#')
		return domain_valid(node[0] == '@' ? node + 1 : node, false,
		    why);
	if (!printable(node, why))
		return false;
	if (node[1] == '\0')
		return *why = "names no queue after #", false;
	return true;
}

/* Whether name can follow EHLO: a domain or an address literal. */
bool
helo_valid(const char *name, const char **why)
{
	char addr[INET6_ADDRSTRLEN + sizeof("IPv6:")];
	unsigned char buf[sizeof(struct in6_addr)];
	size_t len = strlen(name);
	const char *dummy;

	if (why == NULL)
		why = &dummy;
	if (name[0] != '[')
		return domain_valid(name, false, why);
	if (len < 3 || name[len - 1] != ']' || len - 2 >= sizeof(addr))
		return *why = "is not an address literal", false;
	memcpy(addr, name + 1, len - 2);
	addr[len - 2] = '\0';
	if (strncmp(addr, "IPv6:", 5) == 0 ?
	    inet_pton(AF_INET6, addr + 5, buf) == 1 :
	    inet_pton(AF_INET, addr, buf) == 1)
		return true;
	return *why = "is not an address literal", false;
}

/* duration.c: durations ("250ms", "1h30m"), Kubernetes quantities ("500m"
 * CPU, "1Gi" memory), int-or-percent values and their Kubernetes rounding.
 * Declared in config.h.
 *
 * Every number is read exactly as a decimal (mantissa x 10^exponent) rather
 * than through strtod, so "0.1" CPU is exactly 100 millicores and overflow is
 * detected instead of wrapping. Values finer than the unit produced (a
 * fraction of a millisecond, millicore or byte) round up, as Kubernetes does
 * for quantities. */
#include "config.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* More significant digits than this are refused: they would overflow the
 * 64-bit mantissa and no real configuration needs them. */
#define MAX_SIG_DIGITS 18
#define MAX_EXPONENT   400

typedef unsigned __int128 u128;

/* A non-negative decimal number: mant * 10^exp. */
typedef struct decimal {
	uint64_t mant;
	int exp;
	int sig; /* significant digits in mant */
} decimal;

static int is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* Appends one digit to d; pending counts zeros not yet multiplied in, so
 * that trailing zeros ("1.500000000000000000000") cost nothing. */
static int push_digit(decimal *d, int digit, int *pending)
{
	if (digit == 0) {
		(*pending)++;
		return 0;
	}
	if (d->mant == 0) {
		d->mant = (uint64_t)digit;
		d->sig = 1;
		*pending = 0;
		return 0;
	}
	d->sig += *pending + 1;
	if (d->sig > MAX_SIG_DIGITS)
		return -1;
	for (; *pending > 0; (*pending)--)
		d->mant *= 10;
	d->mant = d->mant * 10 + (uint64_t)digit;
	return 0;
}

/* Reads "[digits][.digits]" with at least one digit, and with allow_exp an
 * exponent "e[+-]digits" (an 'e' or 'E' not followed by a digit is left for
 * the caller: "1E" is a memory suffix). Returns the characters consumed, 0
 * when s does not start with a number, -1 when it is too long to hold. */
static long parse_decimal(const char *s, int allow_exp, decimal *d)
{
	const char *p = s;
	int pending = 0, frac = 0, digits = 0;

	memset(d, 0, sizeof(*d));
	for (; is_digit(*p); p++, digits++)
		if (push_digit(d, *p - '0', &pending) < 0)
			return -1;
	if (*p == '.' && is_digit(p[1])) {
		for (p++; is_digit(*p); p++, digits++, frac++)
			if (push_digit(d, *p - '0', &pending) < 0)
				return -1;
	}
	if (digits == 0)
		return 0;
	d->exp = d->mant ? pending - frac : 0;
	if (!allow_exp || (*p != 'e' && *p != 'E'))
		return p - s;

	const char *q = p + 1;
	int sign = 1, e = 0;
	if (*q == '+' || *q == '-')
		sign = *q++ == '-' ? -1 : 1;
	if (!is_digit(*q))
		return p - s;
	for (; is_digit(*q); q++) {
		e = e * 10 + (*q - '0');
		if (e > MAX_EXPONENT)
			return -1;
	}
	if (d->mant)
		d->exp += sign * e;
	return q - s;
}

/* ceil(d * mult) into *out. -1 when the result exceeds INT64_MAX. */
static int decimal_scale(decimal d, uint64_t mult, int64_t *out)
{
	u128 v = (u128)d.mant * mult; /* < 2^60 * 2^60 */
	int e = d.exp;

	for (; e > 0 && v != 0; e--) {
		v *= 10;
		if (v > INT64_MAX)
			return -1;
	}
	/* Repeated ceil(v/10) equals ceil(v/10^k). */
	for (; e < 0 && v > 1; e++)
		v = (v + 9) / 10;
	if (v > INT64_MAX)
		return -1;
	*out = (int64_t)v;
	return 0;
}

typedef struct unit {
	const char *name;
	uint64_t mult;
} unit;

static const unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
    {"d", 24 * 60 * 60 * 1000},
    {NULL, 0},
};

/* The unit spelled by the letters at s (all of them), or NULL. */
static const unit *find_unit(const unit *units, const char *s, size_t n)
{
	for (const unit *u = units; u->name; u++)
		if (strlen(u->name) == n && memcmp(u->name, s, n) == 0)
			return u;
	return NULL;
}

static int is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

int glia_parse_duration_ms(const char *s, int64_t *ms)
{
	int64_t total = 0, part;
	decimal d;

	if (!s || !*s)
		return -1;
	long n = parse_decimal(s, 0, &d);
	if (n > 0 && s[n] == '\0') {
		/* A bare number is seconds. */
		if (decimal_scale(d, 1000, &part) < 0)
			return -1;
		*ms = part;
		return 0;
	}
	while (*s) {
		n = parse_decimal(s, 0, &d);
		if (n <= 0)
			return -1;
		s += n;
		size_t len = 0;
		while (is_alpha(s[len]))
			len++;
		const unit *u = find_unit(duration_units, s, len);
		if (!u || decimal_scale(d, u->mult, &part) < 0 ||
		    part > INT64_MAX - total)
			return -1;
		total += part;
		s += len;
	}
	*ms = total;
	return 0;
}

int glia_parse_cpu_millis(const char *s, int64_t *millis)
{
	decimal d;

	if (!s)
		return -1;
	long n = parse_decimal(s, 1, &d);
	if (n <= 0)
		return -1;
	const char *suffix = s + n;
	uint64_t mult;
	if (strcmp(suffix, "") == 0)
		mult = 1000;
	else if (strcmp(suffix, "m") == 0)
		mult = 1;
	else
		return -1;
	return decimal_scale(d, mult, millis);
}

static const unit mem_units[] = {
    {"", 1},
    {"k", 1000ULL},
    {"K", 1000ULL},
    {"M", 1000ULL * 1000},
    {"G", 1000ULL * 1000 * 1000},
    {"T", 1000ULL * 1000 * 1000 * 1000},
    {"P", 1000ULL * 1000 * 1000 * 1000 * 1000},
    {"E", 1000ULL * 1000 * 1000 * 1000 * 1000 * 1000},
    {"Ki", 1ULL << 10},
    {"Mi", 1ULL << 20},
    {"Gi", 1ULL << 30},
    {"Ti", 1ULL << 40},
    {"Pi", 1ULL << 50},
    {"Ei", 1ULL << 60},
    {NULL, 0},
};

int glia_parse_mem_bytes(const char *s, int64_t *bytes)
{
	decimal d;

	if (!s)
		return -1;
	long n = parse_decimal(s, 1, &d);
	if (n <= 0)
		return -1;
	const unit *u = find_unit(mem_units, s + n, strlen(s + n));
	if (!u)
		return -1;
	return decimal_scale(d, u->mult, bytes);
}

int glia_parse_int_or_pct(const char *s, glia_int_or_pct *out)
{
	long long v = 0;
	const char *p = s;

	if (!s || !is_digit(*s))
		return -1;
	for (; is_digit(*p); p++) {
		v = v * 10 + (*p - '0');
		if (v > INT_MAX)
			return -1;
	}
	int pct = 0;
	if (*p == '%') {
		pct = 1;
		p++;
	}
	if (*p != '\0')
		return -1;
	out->value = (int)v;
	out->is_percent = pct;
	return 0;
}

int glia_int_or_pct_resolve(glia_int_or_pct v, int total, int round_up)
{
	if (!v.is_percent)
		return v.value;
	if (total <= 0)
		return 0;
	int64_t scaled = (int64_t)total * v.value;
	int64_t r = round_up ? (scaled + 99) / 100 : scaled / 100;
	return r > INT_MAX ? INT_MAX : (int)r;
}

/* skelkit.data._ntu_scan: the compiled reader of plain NTU ``.skeleton`` text, and two
 * helpers of preprocessing (see skelkit/data/compiled.py and ntu_format.compiled_scan).
 *
 * scan(data) returns the file's arrays, or None when the text is not in the plain form this
 * reader proves it reads exactly like Python's readers: the caller then uses the NumPy
 * reader and the line-by-line reader, which give the result or the located error.
 * body_motion(joints) is NumPy's np.sum(np.var(joints, axis=0)) for float32 joints, bit for
 * bit; crc32(data) is zlib's CRC-32.
 *
 * Plain form: ASCII; fields separated by spaces or tabs; lines end with LF or CRLF; counts
 * and integer fields are [-]digits; other numbers [-+]digits[.digits][(e|E)[-+]digits].
 * When such a number has at most 15 digits M and a decimal exponent E within +-22, M and
 * 10**|E| are exact doubles and M * 10**E or M / 10**-E is one IEEE operation: correctly
 * rounded, the same double as Python's float(token). Other numbers of that grammar go
 * through the C function behind float() itself.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <stdint.h>
#include <string.h>

#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "double arithmetic must not use extended precision (the division must round once)"
#endif

#if defined(__GNUC__) || defined(__clang__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

#define NUM_JOINTS 25
#define JOINT_FIELDS 12
#define JOINT_COLUMNS 11
#define INFO_INTS 7
#define MAX_DIGITS 15
#define MAX_EXPONENT 22
/* The fewest bytes of one body block: a body-info line of 10 one-byte fields, a joint
 * count line and 25 joint lines of 12 one-byte fields, each line with its LF. */
#define MIN_BODY_BYTES (20 + 3 + NUM_JOINTS * 24)

/* Powers of ten that are exact doubles (10**22 is the largest). */
static const double POW10[MAX_EXPONENT + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Cursor;

/* Skip spaces and tabs. */
static inline void skip_blanks(Cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t')) {
        c->p++;
    }
}

/* The next field of the current line in [*start, c->p); 0 at the end of the line (the
 * line end is not consumed) and -1 on a byte outside the plain form. */
static inline int next_field(Cursor *c, const unsigned char **start) {
    skip_blanks(c);
    if (c->p >= c->end || *c->p == '\n' || *c->p == '\r') {
        return 0;
    }
    *start = c->p;
    while (c->p < c->end) {
        unsigned char b = *c->p;
        if (b > ' ' && b < 0x7f) {
            c->p++;
        } else if (b == ' ' || b == '\t' || b == '\n' || b == '\r') {
            break;
        } else {
            return -1; /* a control character or a non-ASCII byte */
        }
    }
    return 1;
}

/* Consume the end of the current line: blanks, then LF, CRLF or the end of the text. */
static inline int end_line(Cursor *c) {
    skip_blanks(c);
    if (c->p >= c->end) {
        return 1;
    }
    if (*c->p == '\r') {
        c->p++;
        if (c->p >= c->end || *c->p != '\n') {
            return 0;
        }
    }
    if (*c->p != '\n') {
        return 0; /* more fields than the line may have */
    }
    c->p++;
    return 1;
}

/* Python's float() of a token that is not in the fast form (its C core, which rounds
 * correctly); 0 if the token is not a finite number in that grammar. */
static int slow_number(const unsigned char *s, const unsigned char *e, double *out) {
    char text[256];
    char *stop;
    Py_ssize_t length = e - s;
    if (length >= (Py_ssize_t)sizeof(text)) {
        return 0;
    }
    memcpy(text, s, (size_t)length);
    text[length] = '\0';
    double value = PyOS_string_to_double(text, &stop, NULL);
    if (PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    if (stop != text + length || !Py_IS_FINITE(value)) {
        return 0;
    }
    *out = value;
    return 1;
}

/* A number: [-]digits (``integer``) or [-+]digits[.digits][(e|E)[-+]digits] (at least one
 * digit before the exponent). With at most 15 digits and a decimal exponent within +-22
 * the value is one correctly rounded IEEE operation on exact doubles; other spellings of
 * that grammar go through slow_number. */
static inline int plain_number(const unsigned char *s, const unsigned char *e, int integer,
                               double *out) {
    const unsigned char *token = s;
    int negative = 0;
    int digits = 0;
    int after_point = 0;
    int seen_point = 0;
    uint64_t mantissa = 0;
    if (s < e && (*s == '-' || (*s == '+' && !integer))) {
        negative = *s == '-';
        s++;
    }
    for (; s < e; s++) {
        unsigned digit = (unsigned)(*s - '0');
        if (digit < 10) {
            mantissa = mantissa * 10 + digit;
            digits++;
            after_point += seen_point;
        } else if (*s == '.' && !seen_point && !integer) {
            seen_point = 1;
        } else {
            break;
        }
    }
    if (digits == 0) {
        return 0;
    }
    int exponent = 0;
    if (s < e) {
        if (integer || (*s != 'e' && *s != 'E')) {
            return 0;
        }
        s++;
        int exponent_negative = 0;
        if (s < e && (*s == '-' || *s == '+')) {
            exponent_negative = *s == '-';
            s++;
        }
        if (s == e || e - s > 4) {
            return 0;
        }
        for (; s < e; s++) {
            unsigned digit = (unsigned)(*s - '0');
            if (digit >= 10) {
                return 0;
            }
            exponent = exponent * 10 + (int)digit;
        }
        if (exponent_negative) {
            exponent = -exponent;
        }
    }
    exponent -= after_point;
    if (digits > MAX_DIGITS || exponent < -MAX_EXPONENT || exponent > MAX_EXPONENT) {
        return integer ? 0 : slow_number(token, e, out);
    }
    double value = (double)mantissa;
    value = exponent < 0 ? value / POW10[-exponent] : value * POW10[exponent];
    *out = negative ? -value : value;
    return 1;
}

#if PY_LITTLE_ENDIAN && (defined(__GNUC__) || defined(__clang__))
#define HAVE_WORDS 1
#define WORD_MARGIN 48 /* bytes word_number may read: sign, 16 digits, point, 16 digits */

static const double SIGNED_POW10[2][MAX_DIGITS + 1] = {
    {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15},
    {-1e0, -1e1, -1e2, -1e3, -1e4, -1e5, -1e6, -1e7, -1e8, -1e9, -1e10, -1e11, -1e12, -1e13,
     -1e14, -1e15},
};
static const uint64_t POW10_INT[MAX_DIGITS + 2] = {
    1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL, 100000000ULL,
    1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL, 10000000000000ULL,
    100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
};

/* Reads the next 8 bytes as a little-endian word (first byte lowest). */
static inline uint64_t load8(const unsigned char *p) {
    uint64_t word;
    memcpy(&word, p, sizeof(word));
    return word;
}

/* 0x80 in the byte of every non-digit at or before the first one (only the first counts). */
static inline uint64_t non_digits(uint64_t word) {
    uint64_t x = word ^ 0x3030303030303030ULL; /* digits become 0..9 */
    return (x | (x + 0x7676767676767676ULL)) & 0x8080808080808080ULL;
}

/* The value of up to eight ASCII digits in the highest bytes of ``word`` (lower bytes 0). */
static inline uint64_t eight_digits(uint64_t word) {
    word = ((word & 0x0F0F0F0F0F0F0F0FULL) * 2561) >> 8;
    word = ((word & 0x00FF00FF00FF00FFULL) * 6553601) >> 16;
    return ((word & 0x0000FFFF0000FFFFULL) * 42949672960001ULL) >> 32;
}

/* The leading digits at ``*p`` (at most 15, else -1): their count; value in ``*value``. */
static ALWAYS_INLINE int digit_run(const unsigned char **p, uint64_t *value) {
    uint64_t word = load8(*p);
    uint64_t flags = non_digits(word);
    uint64_t high = 0;
    int skipped = 0;
    if (flags == 0) { /* eight digits and more: take them, look at the next eight */
        high = eight_digits(word);
        skipped = 8;
        word = load8(*p + 8);
        flags = non_digits(word);
        if (flags == 0) {
            return -1;
        }
    }
    int count = __builtin_ctzll(flags) >> 3;
    uint64_t low = count ? eight_digits(word << (64 - 8 * count)) : 0;
    *value = high * POW10_INT[count] + low;
    *p += skipped + count;
    return skipped + count;
}


/* The common [-]digits[.digits] number at the cursor without a branch per byte: 1 and
 * the cursor after it, or 0 (cursor unchanged) to let the byte-wise path decide. The
 * caller guarantees WORD_MARGIN readable bytes. */
static ALWAYS_INLINE int word_number(Cursor *c, int integer, double *out) {
    const unsigned char *p = c->p;
    int negative = *p == '-';
    uint64_t mantissa;
    uint64_t fraction = 0;
    p += negative;
    int digits = digit_run(&p, &mantissa);
    int after_point = 0;
    if (digits < 0) {
        return 0;
    }
    if (*p == '.' && !integer) {
        p++;
        after_point = digit_run(&p, &fraction);
        if (after_point < 0) {
            return 0;
        }
        mantissa = mantissa * POW10_INT[after_point] + fraction;
    }
    unsigned char next = *p;
    int separated = next == ' ' || next == '\n' || next == '\r' || next == '\t';
    if (digits + after_point == 0 || digits + after_point > MAX_DIGITS || !separated) {
        return 0;
    }
    /* dividing by -10**k gives exactly the negated quotient (and -0.0 for "-0") */
    *out = (double)mantissa / SIGNED_POW10[negative][after_point];
    c->p = p;
    return 1;
}
#else
#define HAVE_WORDS 0
#endif

/* The next field of the line as a number (see plain_number); 0 if it is not one. */
static ALWAYS_INLINE int number_field(Cursor *c, int integer, double *out) {
    const unsigned char *start;
    skip_blanks(c);
#if HAVE_WORDS
    if (c->end - c->p >= WORD_MARGIN && word_number(c, integer, out)) {
        return 1;
    }
#endif
    return next_field(c, &start) == 1 && plain_number(start, c->p, integer, out);
}

/* A line holding one plain non-negative integer (a count). */
static int count_line(Cursor *c, int64_t *out) {
    double value;
    if (!number_field(c, 1, &value) || value < 0) {
        return 0;
    }
    *out = (int64_t)value; /* "-0" is 0, as int("-0") */
    return end_line(c);
}

#if HAVE_WORDS && defined(__SSE2__) && defined(__SIZEOF_INT128__)
#include <emmintrin.h>
#define HAVE_LINE_MASKS 1
#define LINE_WINDOW 128
typedef unsigned __int128 Bits; /* one bit per byte of a 128-byte window */

static ALWAYS_INLINE int lowest_bit(Bits bits) {
    uint64_t low = (uint64_t)bits;
    return low ? __builtin_ctzll(low) : 64 + __builtin_ctzll((uint64_t)(bits >> 64));
}

static ALWAYS_INLINE int highest_bit(Bits bits) {
    uint64_t high = (uint64_t)(bits >> 64);
    return high ? 127 - __builtin_clzll(high) : 63 - __builtin_clzll((uint64_t)bits);
}

/* Set bits of a word (inline: without -mpopcnt the builtin is a library call). */
static ALWAYS_INLINE int word_bits(uint64_t x) {
    x -= (x >> 1) & 0x5555555555555555ULL;
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (int)((x * 0x0101010101010101ULL) >> 56);
}

static ALWAYS_INLINE int bit_count(Bits bits) {
    return word_bits((uint64_t)bits) + word_bits((uint64_t)(bits >> 64));
}

/* One bit per byte of a 64-byte block, for the byte classes of a joint line. */
typedef struct {
    uint64_t space, digit, dot, minus, newline;
} Masks;

static ALWAYS_INLINE uint64_t bits16(__m128i flags, int chunk) {
    return (uint64_t)(unsigned)_mm_movemask_epi8(flags) << (16 * chunk);
}

static ALWAYS_INLINE void classify64(const unsigned char *p, Masks *m) {
    /* v + (0x80 - '0') maps '0'..'9' to the ten lowest signed bytes, -128..-119 */
    const __m128i to_low = _mm_set1_epi8((char)(0x80 - '0'));
    const __m128i past_nine = _mm_set1_epi8((char)(-128 + 10));
    m->space = m->digit = m->dot = m->minus = m->newline = 0;
    for (int chunk = 0; chunk < 4; chunk++) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + 16 * chunk));
        m->space |= bits16(_mm_cmpeq_epi8(v, _mm_set1_epi8(' ')), chunk);
        m->digit |= bits16(_mm_cmplt_epi8(_mm_add_epi8(v, to_low), past_nine), chunk);
        m->dot |= bits16(_mm_cmpeq_epi8(v, _mm_set1_epi8('.')), chunk);
        m->minus |= bits16(_mm_cmpeq_epi8(v, _mm_set1_epi8('-')), chunk);
        m->newline |= bits16(_mm_cmpeq_epi8(v, _mm_set1_epi8('\n')), chunk);
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_AVX2 1
#define AVX2 __attribute__((target("avx2")))

/* classify64 with 32-byte vectors (half the instructions), for CPUs with AVX2. */
static inline AVX2 uint64_t bits32(__m256i flags, int half) {
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(flags) << (32 * half);
}

static inline AVX2 void classify64_avx2(const unsigned char *p, Masks *m) {
    const __m256i to_low = _mm256_set1_epi8((char)(0x80 - '0'));
    const __m256i past_nine = _mm256_set1_epi8((char)(-128 + 10));
    m->space = m->digit = m->dot = m->minus = m->newline = 0;
    for (int half = 0; half < 2; half++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(p + 32 * half));
        m->space |= bits32(_mm256_cmpeq_epi8(v, _mm256_set1_epi8(' ')), half);
        m->digit |= bits32(_mm256_cmpgt_epi8(past_nine, _mm256_add_epi8(v, to_low)), half);
        m->dot |= bits32(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('.')), half);
        m->minus |= bits32(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('-')), half);
        m->newline |= bits32(_mm256_cmpeq_epi8(v, _mm256_set1_epi8('\n')), half);
    }
}
#else
#define HAVE_AVX2 0
#endif

static ALWAYS_INLINE Bits join(uint64_t low, uint64_t high) {
    return (Bits)high << 64 | low;
}

/* The value of the token [s, e) of a line whose bit masks proved it [-]digits[.digits]
 * or [-].digits; ``point`` is the offset of its point or -1. 0 if it has more than 8
 * digits on a side or 15 in all (the field-by-field path then reads the line). Only
 * loads at known offsets: the tokens of a line are read in parallel. */
static ALWAYS_INLINE int known_number(const unsigned char *line, int s, int e, int point,
                                      double *out) {
    int negative = line[s] == '-';
    int first = s + negative;
    int whole = (point < 0 ? e : point) - first;
    int fraction = point < 0 ? 0 : e - point - 1;
    if (whole > 8 || fraction > 8 || whole + fraction > MAX_DIGITS) {
        return 0;
    }
    uint64_t high = whole ? eight_digits(load8(line + first) << (64 - 8 * whole)) : 0;
    uint64_t low = fraction ? eight_digits(load8(line + point + 1) << (64 - 8 * fraction)) : 0;
    *out = (double)(high * POW10_INT[fraction] + low) / SIGNED_POW10[negative][fraction];
    return 1;
}

/* The first ``columns`` fields of a checked joint line (see joint_line). */
static ALWAYS_INLINE int all_fields(const unsigned char *p, Bits starts, Bits ends, Bits dot,
                                    double *row, int columns) {
    for (int field = 0; field < columns; field++) {
        int s = lowest_bit(starts);
        int e = lowest_bit(ends) + 1;
        Bits points = dot & (((Bits)1 << e) - 1);
        if (!known_number(p, s, e, points ? lowest_bit(points) : -1, &row[field])) {
            return 0;
        }
        starts &= starts - 1;
        ends &= ends - 1;
        dot &= ~points;
    }
    return 1;
}

/* The last field of a checked joint line, the joint's trackingState (nearly always one
 * digit); 1 and the cursor at the next line. */
static ALWAYS_INLINE int tracking_state(Cursor *c, const unsigned char *p, Bits starts,
                                        int text_end, int line_end, int8_t *tracking) {
    int last = highest_bit(starts);
    double value = (double)(p[last] - '0');
    if (text_end - last != 1 || (unsigned)(p[last] - '0') > 9) {
        if (!plain_number(p + last, p + text_end, 0, &value) || value < -128.0 ||
            value > 127.0 || value != (double)(int64_t)value) {
            return 0;
        }
    }
    *tracking = (int8_t)value;
    c->p = p + line_end + 1;
    return 1;
}

/* A joint line checked as a whole with bit masks: twelve fields, eleven numbers
 * [-]digits[.digits] / [-].digits and the trackingState; the first ``columns`` numbers go
 * to ``row``. 1 and the cursor at the next line, or 0 (cursor unchanged) to let the
 * field-by-field path decide. */
static ALWAYS_INLINE int joint_line(Cursor *c, double *row, int columns, int8_t *tracking,
                                    int wide) {
    const unsigned char *p = c->p;
    Masks low, high;
#if HAVE_AVX2
    if (wide) {
        classify64_avx2(p, &low);
        classify64_avx2(p + 64, &high);
    } else
#endif
    {
        (void)wide;
        classify64(p, &low);
        classify64(p + 64, &high);
    }
    Bits space = join(low.space, high.space), digit = join(low.digit, high.digit);
    Bits dot = join(low.dot, high.dot), minus = join(low.minus, high.minus);
    Bits newline = join(low.newline, high.newline);
    if (newline == 0) {
        return 0;
    }
    int line_end = lowest_bit(newline);
    int text_end = line_end > 0 && p[line_end - 1] == '\r' ? line_end - 1 : line_end;
    Bits text = ((Bits)1 << text_end) - 1;
    Bits solid = text & ~space;
    Bits starts = solid & ~(solid << 1);
    Bits ends = solid & ~(solid >> 1); /* the last byte of every field */
    dot &= text;
    minus &= text;
    if ((solid & ~(digit | dot | minus)) != 0 || bit_count(starts) != JOINT_FIELDS ||
        (minus & ~starts) != 0 ||                      /* a sign only first */
        ((minus << 1) & ~(digit | dot)) != 0 ||        /* and before a digit or point */
        (dot & ~((digit << 1) | (digit >> 1))) != 0 || /* a point next to a digit */
        (dot & ~(((solid + dot) ^ solid) & solid)) != 0) {
        /* (solid + dots) carries from a field's first point to its end, so its XOR with
         * solid covers the first point of every field but no later point */
        return 0;
    }
    if (columns > 3) {
        return all_fields(p, starts, ends, dot, row, columns) &&
               tracking_state(c, p, starts, text_end, line_end, tracking);
    }
    /* x y z: from the first 64 bytes of the line, where they fit */
    uint64_t first_starts = (uint64_t)starts, first_ends = (uint64_t)ends;
    uint64_t first_dots = (uint64_t)dot;
    for (int field = 0; field < columns; field++) {
        if (first_ends == 0) {
            return 0;
        }
        uint64_t end_bit = first_ends & (0 - first_ends);
        uint64_t through_end = end_bit | (end_bit - 1);
        uint64_t points = first_dots & through_end;
        int s = __builtin_ctzll(first_starts);
        int e = __builtin_ctzll(end_bit) + 1;
        if (!known_number(p, s, e, points ? __builtin_ctzll(points) : -1, &row[field])) {
            return 0;
        }
        first_starts &= first_starts - 1;
        first_ends &= first_ends - 1;
        first_dots &= ~through_end;
    }
    return tracking_state(c, p, starts, text_end, line_end, tracking);
}
#else
#define HAVE_LINE_MASKS 0
#endif

/* The joint's trackingState: an integral number (the reader accepts "2.0"). */
static ALWAYS_INLINE int tracking_field(Cursor *c, int8_t *out) {
    double value;
    if (!number_field(c, 0, &value) || value < -128.0 || value > 127.0 ||
        value != (double)(int64_t)value) {
        return 0;
    }
    *out = (int8_t)value;
    return end_line(c);
}

/* The 25 joint lines of a body: x y z depthX depthY colorX colorY orientationW/X/Y/Z
 * trackingState. ``masks``: 0 field by field, 1 with SSE2 line masks, 2 with AVX2. */
static ALWAYS_INLINE int joint_lines(Cursor *c, double *joints, int columns, int8_t *tracking,
                                     int masks) {
    double value;
    for (int joint = 0; joint < NUM_JOINTS; joint++) {
        double *row = joints + joint * columns;
#if HAVE_LINE_MASKS
        if (masks && c->end - c->p >= LINE_WINDOW &&
            joint_line(c, row, columns, &tracking[joint], masks == 2)) {
            continue;
        }
#else
        (void)masks;
#endif
        for (int field = 0; field < columns; field++) {
            if (!number_field(c, 0, &row[field])) {
                return 0;
            }
        }
        for (int field = columns; field < JOINT_COLUMNS; field++) {
            if (!number_field(c, 0, &value)) {
                return 0;
            }
        }
        if (!tracking_field(c, &tracking[joint])) {
            return 0;
        }
    }
    return 1;
}

typedef int (*JointBlock)(Cursor *, double *, int, int8_t *);

static int joint_lines_fields(Cursor *c, double *joints, int columns, int8_t *tracking) {
    return joint_lines(c, joints, columns, tracking, 0);
}

#if HAVE_LINE_MASKS
static int joint_lines_sse2(Cursor *c, double *joints, int columns, int8_t *tracking) {
    return joint_lines(c, joints, columns, tracking, 1);
}
#endif

#if HAVE_LINE_MASKS && HAVE_AVX2
static AVX2 int joint_lines_avx2(Cursor *c, double *joints, int columns, int8_t *tracking) {
    return joint_lines(c, joints, columns, tracking, 2);
}
#endif

/* The joint-line reader in use (see set_variant). */
static JointBlock joint_block = joint_lines_fields;
static const char *variant = "fields";

/* Growing buffers for the bodies of the file being read (kept between calls: scan holds
 * the GIL, and their pages stay mapped). */
typedef struct {
    Py_ssize_t capacity; /* bodies */
    int64_t *info;       /* (bodies, 7) */
    double *lean;        /* (bodies, 2) */
    double *joints;      /* (bodies, 25, columns) */
    int8_t *tracking;    /* (bodies, 25) */
    int64_t *codes;      /* (bodies,): the index of the body's bodyID */
} Scratch;

static Scratch scratch = {0, NULL, NULL, NULL, NULL, NULL};

static int reserve(Py_ssize_t bodies) {
    if (bodies <= scratch.capacity) {
        return 1;
    }
    Py_ssize_t capacity = scratch.capacity ? 2 * scratch.capacity : 256;
    while (capacity < bodies) {
        capacity *= 2;
    }
    int64_t *info = PyMem_Realloc(scratch.info, capacity * INFO_INTS * sizeof(int64_t));
    if (info != NULL) {
        scratch.info = info;
    }
    double *lean = PyMem_Realloc(scratch.lean, capacity * 2 * sizeof(double));
    if (lean != NULL) {
        scratch.lean = lean;
    }
    double *joints =
        PyMem_Realloc(scratch.joints, capacity * NUM_JOINTS * JOINT_COLUMNS * sizeof(double));
    if (joints != NULL) {
        scratch.joints = joints;
    }
    int8_t *tracking = PyMem_Realloc(scratch.tracking, capacity * NUM_JOINTS);
    if (tracking != NULL) {
        scratch.tracking = tracking;
    }
    int64_t *codes = PyMem_Realloc(scratch.codes, capacity * sizeof(int64_t));
    if (codes != NULL) {
        scratch.codes = codes;
    }
    if (info == NULL || lean == NULL || joints == NULL || tracking == NULL || codes == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    scratch.capacity = capacity;
    return 1;
}

/* One body block at the cursor into the scratch row ``b``; ``columns`` is 3 (x y z, the
 * other fields checked) or 11 (every float field). 1: read; 0: not plain; -1: error. */
/* The distinct bodyIDs of the file being read, in order of first appearance. */
#define MAX_IDS 256
typedef struct {
    int count;
    const unsigned char *text[MAX_IDS];
    Py_ssize_t length[MAX_IDS];
} BodyIds;

/* The index of the bodyID [start, end) among ``ids`` (added if new); -1 if there are too
 * many distinct bodyIDs for this reader. */
static int body_code(BodyIds *ids, const unsigned char *start, const unsigned char *end) {
    Py_ssize_t length = end - start;
    for (int k = ids->count - 1; k >= 0; k--) {
        if (ids->length[k] == length && memcmp(ids->text[k], start, (size_t)length) == 0) {
            return k;
        }
    }
    if (ids->count == MAX_IDS) {
        return -1;
    }
    ids->text[ids->count] = start;
    ids->length[ids->count] = length;
    return ids->count++;
}

static int body_block(Cursor *c, BodyIds *ids, Py_ssize_t b, int columns) {
    const unsigned char *start;
    double value;
    if (!reserve(b + 1)) {
        return -1;
    }
    int64_t *info = scratch.info + b * INFO_INTS;
    double *lean = scratch.lean + b * 2;
    double *joints = scratch.joints + b * NUM_JOINTS * columns;
    int8_t *tracking = scratch.tracking + b * NUM_JOINTS;

    /* bodyID clipedEdges 4 hand fields isResticted leanX leanY trackingState */
    if (next_field(c, &start) != 1) {
        return 0;
    }
    for (const unsigned char *s = start; s < c->p; s++) {
        if ((unsigned)(*s - '0') >= 10) {
            return 0;
        }
    }
    int code = body_code(ids, start, c->p);
    if (code < 0) {
        return 0;
    }
    scratch.codes[b] = code;
    for (int field = 1; field < 10; field++) {
        int is_lean = field == 7 || field == 8;
        if (!number_field(c, !is_lean, &value)) {
            return 0;
        }
        if (is_lean) {
            lean[field - 7] = value;
        } else {
            info[field < 7 ? field - 1 : 6] = (int64_t)value;
        }
    }
    if (!end_line(c)) {
        return 0;
    }
    int64_t joint_count;
    if (!count_line(c, &joint_count) || joint_count != NUM_JOINTS) {
        return 0;
    }
    return joint_block(c, joints, columns, tracking) ? 1 : 0;
}

/* A bytearray holding a copy of ``size`` bytes at ``data``. */
static PyObject *copied(const void *data, Py_ssize_t size) {
    return PyByteArray_FromStringAndSize((const char *)data, size);
}

/* The distinct bodyIDs as a list of str. */
static PyObject *id_list(const BodyIds *ids) {
    PyObject *list = PyList_New(ids->count);
    for (int k = 0; list != NULL && k < ids->count; k++) {
        PyObject *text = PyUnicode_FromStringAndSize((const char *)ids->text[k], ids->length[k]);
        if (text == NULL) {
            Py_CLEAR(list);
            break;
        }
        PyList_SET_ITEM(list, k, text);
    }
    return list;
}

/* The file at the cursor; a tuple, None (not plain) or NULL (error). */
static PyObject *scan_text(Cursor *c, int columns) {
    int64_t frame_count;
    if (!count_line(c, &frame_count)) {
        Py_RETURN_NONE;
    }
    if (frame_count > (c->end - c->p) / 2 + 1) {
        Py_RETURN_NONE; /* more frames than lines */
    }
    PyObject *counts = PyByteArray_FromStringAndSize(NULL, frame_count * sizeof(int64_t));
    if (counts == NULL) {
        return NULL;
    }
    int64_t *body_counts = (int64_t *)PyByteArray_AS_STRING(counts);
    BodyIds ids;
    ids.count = 0;
    Py_ssize_t bodies = 0;
    int read = 1;
    for (int64_t frame = 0; frame < frame_count && read == 1; frame++) {
        int64_t body_count;
        if (!count_line(c, &body_count) || body_count > (c->end - c->p) / MIN_BODY_BYTES + 1) {
            read = 0;
            break;
        }
        body_counts[frame] = body_count;
        for (int64_t k = 0; k < body_count && read == 1; k++) {
            read = body_block(c, &ids, bodies, columns);
            bodies += read == 1;
        }
    }
    while (read == 1 && c->p < c->end) { /* after the last frame: blank lines only */
        read = end_line(c);
    }
    if (read != 1) {
        Py_DECREF(counts);
        if (read == 0) {
            Py_RETURN_NONE;
        }
        return NULL;
    }
    PyObject *arrays[6] = {
        id_list(&ids),
        copied(scratch.codes, bodies * sizeof(int64_t)),
        copied(scratch.info, bodies * INFO_INTS * sizeof(int64_t)),
        copied(scratch.lean, bodies * 2 * sizeof(double)),
        copied(scratch.joints, bodies * NUM_JOINTS * columns * sizeof(double)),
        copied(scratch.tracking, bodies * NUM_JOINTS),
    };
    for (int k = 0; k < 6; k++) {
        if (arrays[k] == NULL) {
            Py_DECREF(counts);
            for (int j = 0; j < 6; j++) {
                Py_XDECREF(arrays[j]);
            }
            return NULL;
        }
    }
    return Py_BuildValue("(NNNNNNN)", counts, arrays[0], arrays[1], arrays[2], arrays[3],
                         arrays[4], arrays[5]);
}

static PyObject *scan(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer view;
    int all_columns = 0;
    if (!PyArg_ParseTuple(args, "y*|p:scan", &view, &all_columns)) {
        return NULL;
    }
    Cursor c = {(const unsigned char *)view.buf, (const unsigned char *)view.buf + view.len};
    PyObject *result = scan_text(&c, all_columns ? JOINT_COLUMNS : 3);
    PyBuffer_Release(&view);
    return result;
}

/* np.sum(np.var(joints, axis=0)) of float32 ``joints`` (n, 3), computed as NumPy does:
 * float32 sums accumulated row by row, the mean and variance divided in float32 (a float32
 * quotient rounded from double is the same), then the three variances summed in order.
 * No multiply-add may be fused (the build passes -ffp-contract=off). */
static PyObject *body_motion(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*:body_motion", &view)) {
        return NULL;
    }
    Py_ssize_t rows = view.len / (Py_ssize_t)(3 * sizeof(float));
    if (rows == 0 || view.len != rows * (Py_ssize_t)(3 * sizeof(float))) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "body_motion needs float32 (n, 3) joints, n >= 1");
        return NULL;
    }
    const float *x = (const float *)view.buf;
    float mean[3], spread[3];
    for (int k = 0; k < 3; k++) {
        float sum = x[k];
        for (Py_ssize_t i = 1; i < rows; i++) {
            sum += x[3 * i + k];
        }
        mean[k] = (float)((double)sum / (double)rows);
        float square = 0.0f;
        for (Py_ssize_t i = 0; i < rows; i++) {
            float d = x[3 * i + k] - mean[k];
            float dd = d * d;
            square = i == 0 ? dd : square + dd;
        }
        spread[k] = (float)((double)square / (double)rows);
    }
    PyBuffer_Release(&view);
    return PyFloat_FromDouble((double)((spread[0] + spread[1]) + spread[2]));
}

/* zlib's CRC-32 (of the raw fingerprint), with PCLMULQDQ where the CPU has it. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HAVE_CLMUL 1
#include <immintrin.h>
/* The CRC-32 register after ``len`` bytes (len >= 64, a multiple of 16), folded with
 * carry-less multiplications: the algorithm of Intel's "Fast CRC Computation for Generic
 * Polynomials Using PCLMULQDQ", with the constants of zlib's polynomial 0xEDB88320. */
__attribute__((target("pclmul,sse4.1")))
static uint32_t crc_fold(uint32_t crc, const unsigned char *buf, size_t len) {
    const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596LL, 0x0154442bd4LL);
    const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009eLL, 0x01751997d0LL);
    const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124LL);
    const __m128i poly = _mm_set_epi64x(0x01f7011641LL, 0x01db710641LL);
    const __m128i mask32 = _mm_setr_epi32(~0, 0, ~0, 0);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(buf + 0x00));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(buf + 0x10));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(buf + 0x20));
    __m128i x4 = _mm_loadu_si128((const __m128i *)(buf + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    buf += 64; len -= 64;
    while (len >= 64) {
        __m128i x5 = _mm_clmulepi64_si128(x1, k1k2, 0x00);
        __m128i x6 = _mm_clmulepi64_si128(x2, k1k2, 0x00);
        __m128i x7 = _mm_clmulepi64_si128(x3, k1k2, 0x00);
        __m128i x8 = _mm_clmulepi64_si128(x4, k1k2, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k1k2, 0x11);
        x2 = _mm_clmulepi64_si128(x2, k1k2, 0x11);
        x3 = _mm_clmulepi64_si128(x3, k1k2, 0x11);
        x4 = _mm_clmulepi64_si128(x4, k1k2, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), _mm_loadu_si128((const __m128i *)(buf + 0x00)));
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), _mm_loadu_si128((const __m128i *)(buf + 0x10)));
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), _mm_loadu_si128((const __m128i *)(buf + 0x20)));
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), _mm_loadu_si128((const __m128i *)(buf + 0x30)));
        buf += 64; len -= 64;
    }
    /* fold the four into one */
    __m128i x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
    x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
    x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
    while (len >= 16) {
        x2 = _mm_loadu_si128((const __m128i *)buf);
        x5 = _mm_clmulepi64_si128(x1, k3k4, 0x00);
        x1 = _mm_clmulepi64_si128(x1, k3k4, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
        buf += 16; len -= 16;
    }
    /* 128 -> 64 bits */
    x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
    x1 = _mm_srli_si128(x1, 8);
    x1 = _mm_xor_si128(x1, x2);
    /* 64 -> 32 bits */
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, mask32);
    x1 = _mm_clmulepi64_si128(x1, k5, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    /* Barrett reduction */
    x2 = _mm_and_si128(x1, mask32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x10);
    x2 = _mm_and_si128(x2, mask32);
    x2 = _mm_clmulepi64_si128(x2, poly, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}

#else
#define HAVE_CLMUL 0
#endif

static uint32_t crc_table[256];

static void init_crc_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        }
        crc_table[n] = c;
    }
}

static int clmul_available(void) {
#if HAVE_CLMUL
    __builtin_cpu_init();
    return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
#else
    return 0;
#endif
}

static PyObject *crc32(PyObject *module, PyObject *args) {
    (void)module;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "y*:crc32", &view)) {
        return NULL;
    }
    const unsigned char *p = (const unsigned char *)view.buf;
    size_t n = (size_t)view.len;
    uint32_t crc = 0xFFFFFFFFu;
    Py_BEGIN_ALLOW_THREADS
#if HAVE_CLMUL
    if (n >= 64 && clmul_available()) {
        size_t body = n & ~(size_t)15;
        crc = crc_fold(crc, p, body);
        p += body;
        n -= body;
    }
#endif
    while (n--) {
        crc = crc_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromUnsignedLong(crc ^ 0xFFFFFFFFu);
}

static PyObject *fast_crc32(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyBool_FromLong(clmul_available());
}

/* The joint-line readers this build and CPU have, fastest last. */
static int available(const char *name) {
    if (strcmp(name, "fields") == 0) {
        return 1;
    }
#if HAVE_LINE_MASKS
    if (strcmp(name, "sse2") == 0) {
        return 1;
    }
#endif
#if HAVE_LINE_MASKS && HAVE_AVX2
    if (strcmp(name, "avx2") == 0) {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    }
#endif
    return 0;
}

static void use_variant(const char *name) {
    joint_block = joint_lines_fields;
    variant = "fields";
#if HAVE_LINE_MASKS
    if (strcmp(name, "sse2") == 0) {
        joint_block = joint_lines_sse2;
        variant = "sse2";
    }
#endif
#if HAVE_LINE_MASKS && HAVE_AVX2
    if (strcmp(name, "avx2") == 0) {
        joint_block = joint_lines_avx2;
        variant = "avx2";
    }
#endif
}

static PyObject *variants(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    const char *names[] = {"fields", "sse2", "avx2"};
    PyObject *list = PyList_New(0);
    for (int k = 0; list != NULL && k < 3; k++) {
        if (available(names[k])) {
            PyObject *name = PyUnicode_FromString(names[k]);
            if (name == NULL || PyList_Append(list, name) < 0) {
                Py_XDECREF(name);
                Py_CLEAR(list);
                break;
            }
            Py_DECREF(name);
        }
    }
    return list;
}

static PyObject *set_variant(PyObject *module, PyObject *args) {
    (void)module;
    const char *name;
    if (!PyArg_ParseTuple(args, "s:set_variant", &name)) {
        return NULL;
    }
    if (!available(name)) {
        return PyErr_Format(PyExc_ValueError, "joint-line reader %s is not available here",
                            name);
    }
    PyObject *previous = PyUnicode_FromString(variant);
    use_variant(name);
    return previous;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(data, all_columns=False)\n"
     "-> (body_counts, ids, codes, info, lean, joints, tracking) or None\n\n"
     "Read plain NTU .skeleton bytes; None when the text needs the exact reader.\n"
     "body_counts: int64 per frame; ids: the distinct bodyIDs (str) in order of first\n"
     "appearance; codes: int64 (bodies,), the index in ids of every body's bodyID;\n"
     "info: int64 (bodies, 7);\n"
     "lean: float64 (bodies, 2); joints: float64 (bodies, 25, 3) x y z, or (bodies, 25,\n"
     "11) with all_columns; tracking: int8 (bodies, 25). Without all_columns the other\n"
     "joint fields are checked but not converted."},
    {"body_motion", body_motion, METH_VARARGS,
     "body_motion(joints) -> float\n\n"
     "np.sum(np.var(joints, axis=0)) of C-contiguous float32 (n, 3) joints, bit for bit."},
    {"crc32", crc32, METH_VARARGS,
     "crc32(data) -> int\n\nzlib.crc32(data), computed with PCLMULQDQ (see fast_crc32)."},
    {"fast_crc32", fast_crc32, METH_NOARGS,
     "fast_crc32() -> bool: whether crc32 is faster than zlib's on this CPU"},
    {"variants", variants, METH_NOARGS,
     "variants() -> list of the joint-line readers available here, fastest last"},
    {"set_variant", set_variant, METH_VARARGS,
     "set_variant(name) -> the previous name\n\n"
     "Use another joint-line reader (all give the same results; for tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_ntu_scan", "The compiled reader of plain NTU .skeleton text.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ntu_scan(void) {
    init_crc_table();
    PyObject *module = PyModule_Create(&module_def);
    const char *fastest[] = {"avx2", "sse2", "fields"};
    for (int k = 0; k < 3; k++) {
        if (available(fastest[k])) {
            use_variant(fastest[k]);
            break;
        }
    }
    if (module != NULL && PyModule_AddIntConstant(module, "VERSION", 5) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}

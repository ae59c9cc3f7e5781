/* The G-code lexer of the fast path: one pass over a chunk, no rules.
 *
 * It sorts every line of a chunk into one of three shapes and nothing more:
 *
 *   empty    blank or comment only: skipped;
 *   plain    `G<c> <words>` where the caller allows code c and every word's letter, each
 *            letter at most once, each followed by a number in the interpreter's own
 *            syntax (`[-+]?(\d+\.?\d*|\.\d+)`), F positive, arcs with I or J: its chunk
 *            line index, G code, byte offset and the values of X Y Z E F I J S (NaN where
 *            absent) are written out; with GRBL, also lines of axis words alone (`X1 Y2`,
 *            the motion mode in force: code 255, resolved by the caller);
 *   passive  `M<c> <words>` with c in the caller's table of M codes that change nothing
 *            the check follows (fan, progress...), words as above: skipped;
 *   other    everything else (and anything this lexer is not sure of: lower case,
 *            parentheses, line numbers, odd bytes, odd spacing): its line index, start
 *            and end offsets and the number of plain lines before it are written out, and
 *            the Python interpreter reads it exactly as it reads any line.
 *
 * Which codes, letters and M codes count is the caller's choice (it follows the dialect
 * and the machine's forbidden commands), so no rule of the safety check lives here.
 *
 * Numbers: digits are accumulated as an integer; with at most 15 significant digits and
 * 22 decimals, mantissa / 10^decimals is one correctly rounded IEEE division of two exact
 * values, the same double as Python's float(); anything longer goes to
 * PyOS_string_to_double, which is what float() uses.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define NCOL 8 /* X Y Z E F I J S */
static const int COLUMN[26] = {
    /* A */ -1, -1, -1, -1, /* E */ 3, /* F */ 4, -1, -1, /* I */ 5, /* J */ 6,
    -1, -1, -1, -1, -1, -1, -1, -1, /* S */ 7, -1, -1, -1, -1, /* X */ 0, /* Y */ 1, /* Z */ 2};
#define BIT(c) (1u << ((c) - 'A'))
#define CENTRE (BIT('I') | BIT('J'))
#define AXES (BIT('X') | BIT('Y') | BIT('Z'))
#define MODAL 255 /* the G code of a line without one: the motion mode in force */

static const double POW10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline int is_digit(unsigned char c) { return (unsigned)(c - '0') < 10u; }
static inline int is_upper(unsigned char c) { return (unsigned)(c - 'A') < 26u; }

/* Parse a number at *pp; on success store it, advance *pp and return 1. */
static int parse_number(const unsigned char **pp, double *out)
{
    const unsigned char *p = *pp;
    int neg = 0;
    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    uint64_t m = 0;
    int sig = 0, decimals = 0, digits = 0;
    while (is_digit(*p)) {
        if (m || *p != '0') {
            if (sig < 19) m = m * 10 + (*p - '0');
            sig++;
        }
        digits++;
        p++;
    }
    if (*p == '.') {
        p++;
        while (is_digit(*p)) {
            if (m || *p != '0') {
                if (sig < 19) m = m * 10 + (*p - '0');
                sig++;
            }
            decimals++;
            digits++;
            p++;
        }
    }
    if (!digits) return 0;
    double value;
    if (sig <= 15 && decimals <= 22) {
        value = (double)m / POW10[decimals];
        if (neg) value = -value;
    } else {
        /* More digits than a double's exact path: the interpreter reads the line. Not
         * PyOS_string_to_double: the lexer runs without the GIL, and CPython's dtoa pool
         * and error state need it; not strtod: it follows the C locale's decimal point. */
        return 0;
    }
    *out = value;
    *pp = p;
    return 1;
}

/* At a separator: skip blanks; 1 if the line goes on with a word, 0 at its end (newline or
 * comment), -1 if what follows is not something this lexer reads (a carriage return
 * inside the line, for instance). */
static inline int next_word(const unsigned char **pp)
{
    const unsigned char *p = *pp;
    int cr = 0;
    for (;; p++) {
        if (*p == ' ' || *p == '\t') continue;
        if (*p == '\r') {
            cr = 1;
            continue;
        }
        break;
    }
    *pp = p;
    if (*p == '\n' || *p == ';') return 0;
    if (cr || !is_upper(*p)) return -1;
    return 1;
}

enum { EMPTY, PLAIN, PASSIVE, OTHER };

typedef struct {
    unsigned g_words[5];   /* letters allowed after G0..G3, 0 = not a plain code; [4]: the
                              letters of a line with no G or M (GRBL's modal motion), or 0 */
    const unsigned char *passive; /* 1024 bytes: nonzero for a passive M code */
    unsigned passive_words;
} Rules;

/* Classify the line at p; *stop is left where reading stopped: at the line's newline when
 * the lexer read up to it, before it otherwise (the caller then looks for it). */
static int classify(const unsigned char *p, const Rules *rules, int *code, double *values,
                    Py_ssize_t stride, const unsigned char **stop)
{
    int more = next_word(&p);
    *stop = p;
    if (more == 0) return EMPTY;
    if (more < 0) return OTHER;
    unsigned char command = *p;
    int c = 0, n = 0;
    unsigned allowed, seen = 0;
    if (command == 'G' || command == 'M') {
        p++;
        while (is_digit(*p)) {
            c = c * 10 + (*p++ - '0');
            if (++n > 4) return OTHER;
        }
        if (!n) return OTHER;
        if (command == 'G') {
            if (c > 3 || !(allowed = rules->g_words[c])) return OTHER;
        } else {
            if (c >= 1024 || !rules->passive[c]) return OTHER;
            allowed = rules->passive_words;
        }
        seen = BIT(command);
    } else if (rules->g_words[4] & BIT(command)) {
        c = MODAL; /* the words are read below, this one first */
        allowed = rules->g_words[4];
    } else {
        return OTHER;
    }
    double f = 1.0;
    for (int k = 0; k < NCOL; k++) values[k * stride] = NAN;
    for (;;) {
        more = next_word(&p); /* `X1Y2` reads as `X1 Y2`, as in the interpreter */
        if (more == 0) break;
        if (more < 0) return OTHER;
        unsigned char letter = *p++;
        unsigned bit = BIT(letter);
        if (!(allowed & bit) || (seen & bit)) return OTHER;
        seen |= bit;
        double value;
        if (!parse_number(&p, &value)) return OTHER;
        int column = COLUMN[letter - 'A'];
        if (column >= 0) values[column * stride] = value;
        if (letter == 'F') f = value;
    }
    *stop = p;
    if (command == 'M') return PASSIVE;
    if (!(f > 0)) return OTHER; /* F must be positive: the interpreter says so */
    if (c == MODAL && !(seen & AXES)) return OTHER; /* F alone: the interpreter */
    if ((c == 2 || c == 3) && !(seen & CENTRE)) return OTHER;
    *code = c;
    return PLAIN;
}

static int get_buffer(PyObject *obj, Py_buffer *view, int writable, Py_ssize_t need, const char *what)
{
    if (PyObject_GetBuffer(obj, view, writable ? PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS : PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (view->len < need) {
        PyErr_Format(PyExc_ValueError, "%s buffer too small (%zd < %zd bytes)", what, view->len, need);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(lex_doc,
"lex(chunk, room, g_words, passive_m, passive_words, plain_line, plain_g, plain_offset, values,\n"
"    other) -> (lines, plain, others)\n\n"
"Sort the lines of `chunk` (bytes ending with a newline) into empty, plain, passive and\n"
"other lines. `g_words` is 5 letter masks (bit 0 = A): for G0..G3, 0 where that code is not\n"
"plain, then for lines without G or M (GRBL modal motion: G code 255), 0 for none;\n"
"`passive_m` 1024 bytes, nonzero for passive M codes; `passive_words` their letters.\n"
"Outputs, each with `room` entries, at least one per line of the chunk: plain_line int32, plain_g uint8,\n"
"plain_offset int64, values float64 (8 rows X Y Z E F I J S of that room, C order), other\n"
"int64 (rows of 4: line, start, end, plain lines before it).");

static PyObject *lex(PyObject *self, PyObject *args)
{
    PyObject *o_chunk, *o_room, *o_g, *o_passive, *o_line, *o_code, *o_offset, *o_values, *o_other;
    unsigned long passive_words;
    if (!PyArg_ParseTuple(args, "OOOOkOOOOO", &o_chunk, &o_room, &o_g, &o_passive, &passive_words, &o_line,
                          &o_code, &o_offset, &o_values, &o_other))
        return NULL;
    Rules rules;
    PyObject *seq = PySequence_Fast(o_g, "g_words must be a sequence");
    if (!seq) return NULL;
    if (PySequence_Fast_GET_SIZE(seq) != 5) {
        Py_DECREF(seq);
        PyErr_SetString(PyExc_ValueError, "g_words must have 5 masks");
        return NULL;
    }
    for (int k = 0; k < 5; k++) {
        rules.g_words[k] = (unsigned)PyLong_AsUnsignedLong(PySequence_Fast_GET_ITEM(seq, k));
    }
    Py_DECREF(seq);
    if (PyErr_Occurred()) return NULL;
    rules.passive_words = (unsigned)passive_words;

    Py_buffer chunk, passive, line, code, offset, values, other;
    if (get_buffer(o_chunk, &chunk, 0, 1, "chunk") < 0) return NULL;
    const unsigned char *data = chunk.buf, *end = data + chunk.len;
    if (data[chunk.len - 1] != '\n') {
        PyBuffer_Release(&chunk);
        PyErr_SetString(PyExc_ValueError, "chunk must end with a newline");
        return NULL;
    }
    /* Room for one entry per line: the caller counts the chunk's newlines. */
    Py_ssize_t room = PyLong_AsSsize_t(o_room);
    if (room < 0) {
        PyBuffer_Release(&chunk);
        return NULL;
    }
    int got = 0;
    if (get_buffer(o_passive, &passive, 0, 1024, "passive_m") == 0) {
        got = 1;
        if (get_buffer(o_line, &line, 1, room * 4, "plain_line") == 0) {
            got = 2;
            if (get_buffer(o_code, &code, 1, room, "plain_g") == 0) {
                got = 3;
                if (get_buffer(o_offset, &offset, 1, room * 8, "plain_offset") == 0) {
                    got = 4;
                    if (get_buffer(o_values, &values, 1, room * 8 * NCOL, "values") == 0) {
                        got = 5;
                        if (get_buffer(o_other, &other, 1, room * 32, "other") == 0) got = 6;
                    }
                }
            }
        }
    }
    PyObject *result = NULL;
    if (got == 6) {
        rules.passive = passive.buf;
        int32_t *out_line = line.buf;
        uint8_t *out_code = code.buf;
        int64_t *out_offset = offset.buf, *out_other = other.buf;
        double *out_values = values.buf;
        Py_ssize_t lines = 0, plain = 0, others = 0;
        int full = 0;
        Py_BEGIN_ALLOW_THREADS
        const unsigned char *p = data;
        while (p < end) {
            const unsigned char *stop;
            int c = 0;
            if (lines >= room) {
                full = 1;
                break;
            }
            int shape = classify(p, &rules, &c, out_values + plain, room, &stop);
            const unsigned char *nl = *stop == '\n' ? stop : memchr(stop, '\n', (size_t)(end - stop));
            if (shape == PLAIN) {
                out_line[plain] = (int32_t)lines;
                out_code[plain] = (uint8_t)c;
                out_offset[plain] = p - data;
                plain++;
            } else if (shape == OTHER) {
                int64_t *row = out_other + 4 * others++;
                row[0] = lines;
                row[1] = p - data;
                row[2] = nl - data;
                row[3] = plain;
            }
            lines++;
            p = nl + 1;
        }
        Py_END_ALLOW_THREADS
        if (full)
            PyErr_SetString(PyExc_OverflowError, "more lines in the chunk than room");
        else
            result = Py_BuildValue("nnnn", lines, plain, others, room);
    }
    if (got >= 6) PyBuffer_Release(&other);
    if (got >= 5) PyBuffer_Release(&values);
    if (got >= 4) PyBuffer_Release(&offset);
    if (got >= 3) PyBuffer_Release(&code);
    if (got >= 2) PyBuffer_Release(&line);
    if (got >= 1) PyBuffer_Release(&passive);
    PyBuffer_Release(&chunk);
    return result;
}

static PyMethodDef methods[] = {
    {"lex", lex, METH_VARARGS, lex_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_lexer",
    "The C lexer of the G-code check's fast path (see fast.py); line shapes only, no rules.",
    -1, methods,
};

PyMODINIT_FUNC PyInit__lexer(void) { return PyModule_Create(&module); }

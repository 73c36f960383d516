/* unicode.c - UTF-8 decoding and the regex classes (see unicode.h). */
#include "common/tok/unicode.h"

int uni_decode(const unsigned char *s, size_t n, uint32_t *cp, int *valid)
{
    unsigned c = s[0];
    *valid = 1;
    if (c < 0x80) { *cp = c; return 1; }
    int len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; v = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; v = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; v = c & 0x07; min = 0x10000; }
    else goto bad;
    if ((size_t)len > n) goto bad;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) goto bad;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) goto bad;
    *cp = v;
    return len;
bad:
    *valid = 0;
    *cp = c;
    return 1;
}

static int in_ranges(const uint32_t (*r)[2], size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cp < r[mid][0]) hi = mid;
        else if (cp > r[mid][1]) lo = mid + 1;
        else return 1;
    }
    return 0;
}

/* ECMAScript \s: WhiteSpace (TAB VT FF SP NBSP ZWNBSP and category Zs) + LineTerminator. */
static int js_space(uint32_t cp)
{
    switch (cp) {
    case 0x09: case 0x0a: case 0x0b: case 0x0c: case 0x0d: case 0x20: case 0xa0:
    case 0x1680: case 0x2028: case 0x2029: case 0x202f: case 0x205f: case 0x3000: case 0xfeff:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200a;
    }
}

uni_class uni_classify(uint32_t cp)
{
    if (cp < 0x80) {  /* the common case, without a search */
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return UNI_LETTER;
        if (cp >= '0' && cp <= '9') return UNI_NUMBER;
        return js_space(cp) ? UNI_SPACE : UNI_OTHER;
    }
    if (js_space(cp)) return UNI_SPACE;
    if (in_ranges(uni_letter_ranges, uni_letter_nranges, cp)) return UNI_LETTER;
    if (in_ranges(uni_number_ranges, uni_number_nranges, cp)) return UNI_NUMBER;
    return UNI_OTHER;
}

"""C identifiers for user names: reserved words, transliteration and collision-free renaming.

A user name reaches C unchanged when it is plain ASCII and means nothing to a C or C++
compiler, libm or the standard headers. Any other name is transliterated (Greek letters by
name, other characters as ``u03B2``) and, where needed, suffixed (``double_``, ``double_2``)
until it is free. The choice depends only on the names being placed and the order in which
they come, so the same source always gives the same identifiers.

Generated locals (``_t12``, ``_p0``, ``_i``, ``_n``) begin with an underscore, which no user
identifier produced here ever does, and sit at block scope, where C and C++ allow them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence

from ..ops import LIBM_CALLS

_C_KEYWORDS = """
auto break case char const continue default do double else enum extern float for goto if
inline int long register restrict return short signed sizeof static struct switch typedef
union unsigned void volatile while alignas alignof bool constexpr false nullptr
static_assert thread_local true typeof typeof_unqual asm fortran complex imaginary
noreturn
"""

_CXX_KEYWORDS = """
and and_eq bitand bitor catch char8_t char16_t char32_t class compl concept consteval
constinit const_cast co_await co_return co_yield decltype delete dynamic_cast explicit
export friend mutable namespace new noexcept not not_eq operator or or_eq private
protected public reflexpr reinterpret_cast requires static_cast synchronized template this
throw try typeid typename using virtual wchar_t xor xor_eq final override import module
transaction_safe transaction_safe_dynamic atomic_cancel atomic_commit atomic_noexcept
contract_assert pre post std
"""

# <math.h> functions of C99 to C23 and the common extensions (glibc, BSD, XSI); each also
# has ``f`` and ``l`` variants, added below.
_MATH_FUNCTIONS = """
acos asin atan atan2 cos sin tan acosh asinh atanh cosh sinh tanh exp exp2 expm1 frexp
ilogb ldexp log log10 log1p log2 logb modf scalbn scalbln cbrt fabs hypot pow sqrt erf erfc
lgamma tgamma ceil floor nearbyint rint lrint llrint round lround llround trunc fmod
remainder remquo copysign nan nextafter nexttoward fdim fmax fmin fma acospi asinpi atanpi
atan2pi cospi sinpi tanpi exp10 exp10m1 exp2m1 log10p1 log2p1 logp1 compoundn pown powr
rootn rsqrt roundeven fromfp ufromfp fromfpx ufromfpx fmaximum fminimum fmaximum_num
fminimum_num fmaximum_mag fminimum_mag fmaximum_mag_num fminimum_mag_num fmax_mag fmin_mag
nextup nextdown canonicalize fadd fsub fmul fdiv ffma fsqrt dadd dsub dmul ddiv dfma dsqrt
llogb totalorder totalordermag getpayload setpayload setpayloadsig iseqsig issignaling
iscanonical issubnormal iszero j0 j1 jn y0 y1 yn gamma lgamma_r gamma_r drem finite
significand scalb pow10 sincos matherr isinf isnan
"""

_MATH_MACROS = """
HUGE_VAL HUGE_VALF HUGE_VALL INFINITY NAN SNAN SNANF SNANL FP_INFINITE FP_NAN FP_NORMAL
FP_SUBNORMAL FP_ZERO FP_FAST_FMA FP_FAST_FMAF FP_FAST_FMAL FP_ILOGB0 FP_ILOGBNAN
FP_INT_UPWARD FP_INT_DOWNWARD FP_INT_TOWARDZERO FP_INT_TONEARESTFROMZERO FP_INT_TONEAREST
MATH_ERRNO MATH_ERREXCEPT math_errhandling fpclassify isfinite isnormal signbit isgreater
isgreaterequal isless islessequal islessgreater isunordered float_t double_t M_E M_LOG2E
M_LOG10E M_LN2 M_LN10 M_PI M_PI_2 M_PI_4 M_1_PI M_2_PI M_2_SQRTPI M_SQRT2 M_SQRT1_2
MAXFLOAT HUGE DOMAIN SING OVERFLOW UNDERFLOW TLOSS PLOSS X_TLOSS signgam exception
"""

# Names a C or C++ project commonly has as macros or types from the standard headers, and
# the macros GCC predefines in its GNU modes.
_STANDARD_NAMES = """
main errno NULL EOF BUFSIZ FILENAME_MAX FOPEN_MAX TMP_MAX L_tmpnam SEEK_SET SEEK_CUR
SEEK_END stdin stdout stderr size_t ptrdiff_t max_align_t offsetof nullptr_t intptr_t
uintptr_t intmax_t uintmax_t int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t
uint64_t FILE fpos_t va_list va_arg va_start va_end va_copy jmp_buf setjmp longjmp
sig_atomic_t assert static_assert I _Complex_I _Imaginary_I CMPLX CMPLXF CMPLXL EDOM
ERANGE EILSEQ CHAR_BIT CHAR_MAX CHAR_MIN INT_MAX INT_MIN LONG_MAX LONG_MIN SHRT_MAX
SHRT_MIN UINT_MAX ULONG_MAX USHRT_MAX DBL_MAX DBL_MIN DBL_EPSILON DBL_DIG DBL_MANT_DIG
FLT_MAX FLT_MIN FLT_EPSILON FLT_EVAL_METHOD FLT_RADIX LDBL_MAX LDBL_MIN LDBL_EPSILON
EXIT_SUCCESS EXIT_FAILURE RAND_MAX MB_CUR_MAX unix linux i386 i486 i586 i686 sun sparc
mips vax
"""

# File-scope names only: functions of the C library and of C++'s <cmath> that a program
# linking the generated code may also declare. A parameter may shadow these; a function
# of ours may not replace them.
_LIBRARY_FUNCTIONS = """
abs labs llabs div ldiv lldiv atof atoi atol atoll strtod strtof strtol strtold strtoll
strtoul strtoull rand srand malloc calloc realloc free aligned_alloc abort atexit exit
quick_exit at_quick_exit getenv system bsearch qsort printf fprintf sprintf snprintf
scanf fscanf sscanf puts fputs putchar fputc getchar fgetc fgets fopen fclose fread
fwrite fflush remove rename perror memcpy memmove memset memcmp strlen strcmp strcpy
strcat time clock signal raise isalpha isdigit isspace toupper tolower
assoc_laguerre assoc_legendre beta comp_ellint_1 comp_ellint_2 comp_ellint_3
cyl_bessel_i cyl_bessel_j cyl_bessel_k cyl_neumann ellint_1 ellint_2 ellint_3 expint
hermite laguerre legendre riemann_zeta sph_bessel sph_legendre sph_neumann lerp
"""


def _words(*blocks: str) -> frozenset[str]:
    return frozenset(w for b in blocks for w in b.split())


_MATH = _words(_MATH_FUNCTIONS) | LIBM_CALLS        # every libm call a kernel makes, too
RESERVED: frozenset[str] = (
    _words(_C_KEYWORDS, _CXX_KEYWORDS, _MATH_MACROS, _STANDARD_NAMES) | _MATH
    | {m + s for m in _MATH for s in ("f", "l")}
)
FILE_SCOPE_RESERVED: frozenset[str] = RESERVED | _words(_LIBRARY_FUNCTIONS)
# Our own macros (include guards, CHAINCC_RESTRICT) all begin with this.
MACRO_PREFIX = "CHAINCC_"

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_GREEK = re.compile(r"GREEK (SMALL|CAPITAL) LETTER ([A-Z]+)\Z")


def is_plain(name: str, reserved: frozenset[str] = RESERVED) -> bool:
    """Whether ``name`` can be a C identifier as it is."""
    return bool(_PLAIN.match(name)) and "__" not in name and name not in reserved \
        and not name.startswith(MACRO_PREFIX)


def transliterate(name: str) -> str:
    """An ASCII identifier stem for any name: ``β`` → ``beta``, ``µ`` → ``u00B5``.

    Underscore runs collapse (C++ reserves ``__``) and never lead or trail, so a suffix
    can follow with one ``_``.
    """
    out: list[str] = []
    for ch in name:
        if ch.isascii() and ch.isalnum():
            out.append(ch)
        elif ch == "_":
            if out and not out[-1].endswith("_"):
                out.append("_")
        else:
            m = _GREEK.match(unicodedata.name(ch, ""))
            if m:
                word = m.group(2).lower()
                out.append(word if m.group(1) == "SMALL" else word.capitalize())
            else:
                out.append(f"u{ord(ch):04X}" if ord(ch) <= 0xFFFF else f"U{ord(ch):08X}")
    stem = "".join(out).rstrip("_")
    return stem if stem and stem[0].isalpha() else "v" + stem


def candidates(name: str) -> Iterator[str]:
    """Renamings of ``name`` to try, in order: its transliteration, then ``stem_``,
    ``stem_2``, ..."""
    stem = transliterate(name)
    if stem.startswith(MACRO_PREFIX):
        stem = "v" + stem
    if stem != name:
        yield stem
    yield stem + "_"
    k = 2
    while k < 100_000:
        yield f"{stem}_{k}"
        k += 1
    raise AssertionError(f"no free C identifier for {name!r}")


def place(names: Sequence[str], free: Callable[[str], bool],
          taken: set[str] | None = None) -> list[str]:
    """Distinct C identifiers for distinct ``names``, in order.

    ``free(c)`` says whether identifier ``c`` may be used (it sees every identifier that a
    name would bring, for names that expand into several); ``taken`` collects the choices.
    Plain names keep themselves first, so a renamed name never takes a user's name.
    """
    assert len(set(names)) == len(names), "names must be distinct"
    taken = set() if taken is None else taken
    out: list[str | None] = [None] * len(names)
    wanted = {n for n in names if is_plain(n)}
    for i, n in enumerate(names):
        if is_plain(n) and n not in taken and free(n):
            out[i] = n
            taken.add(n)
    for i, n in enumerate(names):
        if out[i] is None:
            for c in candidates(n):
                if c not in taken and c not in wanted and is_plain(c) and free(c):
                    out[i] = c
                    taken.add(c)
                    break
    return [c for c in out if c is not None]

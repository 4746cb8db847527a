/* EL_ALWAYS_INLINE: for the inner steps of coding loops, which must be
 * inlined with constant arguments (a table scale, a dtype, a layout) to be
 * fast; plain `inline` leaves that to the compiler. */
#ifndef ELVES_ALWAYS_INLINE_H
#define ELVES_ALWAYS_INLINE_H

#if defined(__GNUC__)
#define EL_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define EL_ALWAYS_INLINE inline
#endif

#endif

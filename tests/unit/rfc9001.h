/*
 * rfc9001.h: what test_tls.c and test_quic.c both read from RFC 9001
 * Appendix A (the client Initial example), and the hex reader for it.
 */
#ifndef DV_TEST_RFC9001_H
#define DV_TEST_RFC9001_H

#include <stdint.h>
#include <stdlib.h>

/* A.2's ClientHello (the CRYPTO frame's data, 241 bytes: type 1, length 0xed). */
static const char a2_hello[] =
    "010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c"
    "00000413011302010000c000000010000e00000b6578616d706c652e636f6dff01000100000a"
    "00080006001d0017001800100007000504616c706e000500050100000000003300260024001d"
    "00209370b2c9caa47fbabaf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b0003"
    "020304000d0010000e0403050306030203080408050806002d00020101001c00024001003900"
    "320408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f0883"
    "94c8f03e51570806048000ffff";

/* Hex text into out; returns the bytes written. */
static inline uint32_t unhex(const char *hex, uint8_t *out)
{
	uint32_t n = 0;

	for (; hex[0] && hex[1]; hex += 2)
		out[n++] = (uint8_t)strtoul((char[]){hex[0], hex[1], 0}, NULL, 16);
	return n;
}

#endif

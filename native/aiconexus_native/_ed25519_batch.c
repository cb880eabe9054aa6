/* Ed25519 verification of a whole batch in one call, against libsodium.
 *
 * The Python side (cffi, API mode) calls aiconexus_verify_batch with the GIL released, so
 * other threads run Python while this thread verifies every item of its batch. Each verdict
 * is libsodium's crypto_sign_verify_detached, the very check crypto_sign_open (the protocol
 * core's verify, through PyNaCl) runs after splitting off the signature.
 */
#include <sodium.h>
#include <stddef.h>

/* 0 once libsodium is ready (idempotent, thread-safe), -1 if it could not start. */
static int aiconexus_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

/* For each i < n, verdicts[i] = 1 if signatures[64i..64i+63] is a valid Ed25519 signature of
 * message i under keys[32i..32i+31], else 0. The messages are concatenated in `messages`,
 * message i being lengths[i] bytes long. The caller checks every size beforehand. */
static void aiconexus_verify_batch(size_t n, const unsigned char *keys,
                                   const unsigned char *signatures,
                                   const unsigned char *messages, const size_t *lengths,
                                   unsigned char *verdicts)
{
    size_t i;
    size_t offset = 0;

    for (i = 0; i < n; i++) {
        verdicts[i] = crypto_sign_verify_detached(signatures + i * crypto_sign_BYTES,
                                                  messages + offset, lengths[i],
                                                  keys + i * crypto_sign_PUBLICKEYBYTES) == 0;
        offset += lengths[i];
    }
}

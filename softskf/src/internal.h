/* softskf internals: the device store model, transactions, handles, quirks and shared helpers. */
#ifndef SOFTSKF_INTERNAL_H
#define SOFTSKF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "skf.h"

/* Limits of the simulated device (reported in DEVINFO where the structure has a field). */
#define SK_MAX_DEV_NAME 32
#define SK_MAX_APP_NAME 32
#define SK_MAX_CONT_NAME 64
#define SK_MAX_FILE_NAME 32
#define SK_MAX_LABEL 31
#define SK_MIN_PIN 6
#define SK_MAX_PIN 16
#define SK_MAX_RETRY 15
#define SK_MAX_APPS 8
#define SK_MAX_CONTAINERS 16
#define SK_MAX_FILES 32
#define SK_TOTAL_SPACE (256u * 1024u)
#define SK_MAX_CERT 8192
#define SK_MAX_ECC_BUFFER 512
#define SK_MAX_BUFFER 4096
#define SK_KEY_COST 256 /* bytes of space a stored key pair counts for */

typedef struct {
    unsigned char *p;
    size_t n;
} sk_buf;

typedef struct {
    uint32_t max, remain, is_default;
    unsigned char salt[16];
    unsigned char hash[32];
} sk_pin;

typedef struct {
    char name[SK_MAX_FILE_NAME + 1];
    uint32_t size, read_rights, write_rights;
    sk_buf data; /* always `size` bytes */
} sk_file;

/* A key half: SM2 keys are the 32-byte private scalar, RSA keys a DER RSAPrivateKey. */
typedef struct {
    char name[SK_MAX_CONT_NAME + 1];
    uint32_t type;
    sk_buf sign_key, enc_key, sign_cert, enc_cert;
} sk_cont;

typedef struct {
    char name[SK_MAX_APP_NAME + 1];
    uint32_t create_rights;
    sk_pin pin[2]; /* ADMIN_TYPE, USER_TYPE */
    sk_file *files;
    size_t nfiles;
    sk_cont *conts;
    size_t nconts;
} sk_app;

typedef struct {
    char label[SK_MAX_LABEL + 1];
    char serial[33];
    uint32_t present;
    uint32_t auth_alg;
    unsigned char auth_key[16];
    sk_app *apps;
    size_t napps;
} sk_dev;

/* One locked view of a device's state file; tx_commit writes it back atomically. */
typedef struct {
    int lock_fd;
    int hold_fd; /* shared lock on "hold" unless this handle holds SKF_LockDev */
    char dir[4096];
    sk_dev st;
} sk_tx;

/* state.c: the model's helpers and the state file format */
int state_serialise(const sk_dev *d, char **out, size_t *len);
int state_parse(sk_dev *d, char *text);
sk_app *dev_find_app(sk_dev *d, const char *name);
sk_cont *app_find_cont(sk_app *a, const char *name);
sk_file *app_find_file(sk_app *a, const char *name);
uint32_t dev_used_space(const sk_dev *d);
void dev_free(sk_dev *d);
void app_free(sk_app *a);
void cont_free(sk_cont *c);
void buf_free(sk_buf *b);
int buf_set(sk_buf *b, const void *p, size_t n);
void buf_move(sk_buf *to, sk_buf *from);
void array_remove(void *items, size_t *count, size_t stride, void *item);

/* store.c */
ULONG store_root(char *out, size_t cap);
int conf_get(const char *key, char *out, size_t cap);
ULONG tx_begin(sk_tx *tx, const char *root, const char *dev, int write);
ULONG hold_lock(const char *root, const char *dev, int exclusive, uint32_t timeout_ms, int *fd);
ULONG tx_commit(sk_tx *tx);
void tx_end(sk_tx *tx);
ULONG store_create_device(const char *root, const char *dev, const char *label, const char *serial,
                          const unsigned char auth_key[16]);
ULONG store_delete_device(const char *root, const char *dev);
ULONG store_list_devices(const char *root, int present_only, char **list, size_t *len);
ULONG store_device_present(const char *root, const char *dev, int *present);

/* handles.c: every handle given out is registered, so a stale or forged one is refused.
 * Each handle starts with sk_hdr; closing a parent closes its children. */
enum sk_kind { K_DEV = 1, K_APP, K_CONT, K_KEY, K_HASH, K_MAC };
typedef struct sk_hdr {
    int kind;
    void *parent;
    void (*destroy)(void *self);
} sk_hdr;
typedef struct sk_devh {
    sk_hdr hdr;
    char root[4096];
    char name[SK_MAX_DEV_NAME + 1];
    int authed;
    unsigned char challenge[16];
    size_t challenge_len;
    int lock_fd; /* >= 0 while SKF_LockDev holds the device */
} sk_devh;
typedef struct sk_apph {
    sk_hdr hdr;
    sk_devh *dev;
    char name[SK_MAX_APP_NAME + 1];
    int login; /* -1 none, ADMIN_TYPE or USER_TYPE */
} sk_apph;
typedef struct sk_conth {
    sk_hdr hdr;
    sk_apph *app;
    char name[SK_MAX_CONT_NAME + 1];
} sk_conth;

void *handle_new(int kind, size_t size, void *parent);
/* Looks a handle of one kind up at the top of an entry point, or answers SAR_INVALIDHANDLEERR. */
#define SK_HANDLE(type, kind, h, var)                                                              \
    type *var = handle_get(h, kind);                                                               \
    if (!var)                                                                                      \
    return SAR_INVALIDHANDLEERR
#define DEV(h, d) SK_HANDLE(sk_devh, K_DEV, h, d)
#define APP(h, a) SK_HANDLE(sk_apph, K_APP, h, a)
#define CONT(h, c) SK_HANDLE(sk_conth, K_CONT, h, c)
void *handle_get(void *h, int kind);
void handle_free(void *h);

/* quirks.c: behaviour switches chosen by SOFTSKF_QUIRKS or the config file */
enum {
    Q_SM2_OLD_IDS = 1 << 0, /* SGD_SM2_1/2/3 in the pre-2012 numbering */
    Q_EMPTY_LIST_1 = 1 << 1 /* an empty name list is one NUL instead of two */
};
unsigned quirks(void);
uint32_t alg_sm2_1(void);
uint32_t alg_sm2_3(void);

/* util.c */
ULONG name_ok(const char *s, size_t max, size_t *len);
ULONG out_bytes(BYTE *buf, ULONG *len, const void *data, size_t n);
ULONG out_list(char *buf, ULONG *len, const char *list, size_t n);
int list_add(char **list, size_t *n, const char *name);
ULONG list_finish(char **list, size_t *n);
ULONG out_names(const void *items, size_t count, size_t stride, char *buf, ULONG *len);
void hex_encode(char *out, const unsigned char *p, size_t n);
int hex_decode(sk_buf *out, const char *hex);
void wipe(void *p, size_t n);

/* session layer used by every entry point: look a handle up and open its device's state */
ULONG dev_tx(sk_devh *d, sk_tx *tx, int write);
ULONG app_tx(sk_apph *a, sk_tx *tx, int write, sk_app **app);
int rights_ok(const sk_apph *a, uint32_t rights);

/* One transaction around an operation on an application or a container: begin (locked, for
 * writing if `write`), find the application (and the container), run `op`, commit when `write`
 * and `op` succeeded, always end. `op` gets the open state and its own `arg`. */
typedef struct {
    sk_tx tx;
    sk_app *app;
    sk_cont *cont; /* cont_run and key_run only */
} sk_view;
typedef ULONG (*sk_op)(sk_view *v, void *arg);
ULONG view_run(ULONG rv, sk_view *v, int write, sk_op op, void *arg);
ULONG app_run(sk_apph *a, int write, sk_op op, void *arg);
ULONG cont_run(sk_conth *c, int write, sk_op op, void *arg);
/* cont_run for a private-key operation: refused before the state is opened unless the user PIN
 * has been verified. */
ULONG key_run(sk_conth *c, int write, sk_op op, void *arg);
/* The operation of EnumContainer and EnumFiles: the application's names into the caller's buffer. */
typedef struct {
    int files; /* 1: files, 0: containers */
    char *buf;
    ULONG *len;
} names_out;
ULONG enum_names(sk_view *v, void *arg);

/* crypto.c: SM2, SM3, SM4 and RSA over libcrypto */
ULONG sm2_generate(unsigned char priv[32], unsigned char pub[64]);
ULONG sm2_public_of(const unsigned char priv[32], unsigned char pub[64]);
ULONG sm2_sign(const unsigned char priv[32], const unsigned char e[32], unsigned char r[32],
               unsigned char s[32]);
ULONG sm2_verify(const unsigned char pub[64], const unsigned char e[32], const unsigned char r[32],
                 const unsigned char s[32]);
ULONG sm2_encrypt(const unsigned char pub[64], const unsigned char *in, size_t n,
                  unsigned char c1[64], unsigned char c3[32], unsigned char *c2);
ULONG sm2_decrypt(const unsigned char priv[32], const unsigned char c1[64],
                  const unsigned char c3[32], const unsigned char *c2, size_t n,
                  unsigned char *out);
ULONG sm4_ecb(int enc, const unsigned char key[16], const unsigned char *in, size_t n,
              unsigned char *out);
ULONG sm3_z(const unsigned char pub[64], const unsigned char *id, size_t id_len,
            unsigned char z[32]);
ULONG ecc_pub_to_blob(const unsigned char pub[64], ECCPUBLICKEYBLOB *b);
ULONG ecc_pub_from_blob(const ECCPUBLICKEYBLOB *b, unsigned char pub[64]);
ULONG ecc_priv_from_blob(const ECCPRIVATEKEYBLOB *b, unsigned char priv[32]);
ULONG ecc_cipher_size(const ECCCIPHERBLOB *c, size_t *n);
ULONG sm2_decrypt_blob(const unsigned char priv[32], const ECCCIPHERBLOB *blob, unsigned char *out);

ULONG rsa_generate(uint32_t bits, sk_buf *der);
ULONG rsa_pub_blob(const sk_buf *der, RSAPUBLICKEYBLOB *blob);
ULONG rsa_sign(const sk_buf *der, const unsigned char *in, size_t n, unsigned char *sig,
               size_t *sig_len);
ULONG rsa_private_decrypt(const sk_buf *der, const unsigned char *in, size_t n, unsigned char *out,
                          size_t *out_len);
ULONG rsa_verify_blob(const RSAPUBLICKEYBLOB *blob, const unsigned char *data, size_t n,
                      const unsigned char *sig, size_t sig_len);
ULONG rsa_pub_op(const RSAPUBLICKEYBLOB *blob, int pkcs1, const unsigned char *in, size_t n,
                 unsigned char *out, size_t *out_len);
ULONG rsa_priv_op(const RSAPRIVATEKEYBLOB *blob, const unsigned char *in, size_t n,
                  unsigned char *out, size_t *out_len);
ULONG rsa_ext_generate(uint32_t bits, RSAPRIVATEKEYBLOB *blob);
ULONG rsa_der_from_priv_blob(const RSAPRIVATEKEYBLOB *blob, sk_buf *der);
ULONG random_bytes(unsigned char *p, size_t n);
ULONG symkey_new(sk_devh *dev, uint32_t alg, const unsigned char key[16], HANDLE *ph);
ULONG pin_hash(const unsigned char salt[16], const char *pin, size_t n, unsigned char out[32]);
int ct_equal(const void *a, const void *b, size_t n);

#endif

/* fuzz_common.c: see fuzz_common.h. */
#include "fuzz_common.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "runtime/rt.h"
#include "serialize/ser_int.h"

static char scratch[PATH_MAX];
static char ref[PATH_MAX];

static void cleanup(void) { ser_rmtree(scratch); }

void fz_init(const char *argv0) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(scratch, sizeof scratch, "%s/pt2coreml-fuzz-XXXXXX", base);
    if (!mkdtemp(scratch)) {
        perror("mkdtemp");
        abort();
    }
    atexit(cleanup);
    const char *env = getenv("PT2COREML_FUZZ_REF");
    if (env && *env) {
        snprintf(ref, sizeof ref, "%s", env);
        return;
    }
    char exe[PATH_MAX];
    if (!realpath(argv0, exe)) snprintf(exe, sizeof exe, "%s", argv0);
    char *slash = strrchr(exe, '/');
    if (slash) *slash = 0;
    else snprintf(exe, sizeof exe, ".");
    snprintf(ref, sizeof ref, "%s/ref/model.mlpackage", exe);
}

const char *fz_scratch(void) { return scratch; }
const char *fz_ref(void) { return ref; }

void fz_write(const char *dir, const char *rel, const void *data, size_t len) {
    char path[PATH_MAX * 2];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) { /* mkdir -p of rel's directories */
        *s = 0;
        mkdir(path, 0700);
        *s = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) != 0) {
        perror(path);
        abort();
    }
}

unsigned char *fz_slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    unsigned char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) b = realloc(b, cap *= 2);
    }
    fclose(f);
    *len = n;
    return b;
}

#define MAX_INPUT_ELEMS (1 << 20)
#define MAX_VALUE_BYTES ((int64_t)256 << 20)

void fz_run_zero(ir_program *p) {
    pc_err e = {0};
    rt_model *m = NULL;
    if (rt_prepare(p, "main", &m, &e)) return;
    rt_mem_plan mp;
    rt_memory_plan(m, &mp);
    if (mp.largest_value_bytes > MAX_VALUE_BYTES || mp.peak_live_bytes > 2 * MAX_VALUE_BYTES) { /* a program that */
        rt_free(m); /* declares huge tensors runs as declared: what we look for is crashes, not its appetite */
        return;
    }
    int nin = rt_num_inputs(m), nout = rt_num_outputs(m);
    rt_tensor *ins = calloc((size_t)nin + 1, sizeof *ins);
    rt_tensor *outs = calloc((size_t)nout + 1, sizeof *outs);
    int ok = ins && outs;
    for (int i = 0; ok && i < nin; i++) {
        const ir_type *t = &rt_input(m, i)->type;
        if (t->kind != IR_TK_TENSOR || t->rank < 0 || t->dtype == IR_STRING) {
            ok = 0;
            break;
        }
        int64_t n = 1;
        ins[i].dtype = t->dtype;
        ins[i].rank = t->rank;
        for (int k = 0; k < t->rank; k++) {
            ins[i].dims[k] = IR_IS_SYM(t->dims[k]) ? 1 : t->dims[k];
            if (ins[i].dims[k] && n > MAX_INPUT_ELEMS / ins[i].dims[k]) ok = 0;
            else n *= ins[i].dims[k];
        }
        if (ok && !(ins[i].data = calloc((size_t)n + 1, ir_dtype_size(t->dtype)))) ok = 0;
    }
    if (ok && rt_run(m, ins, outs, &e) == 0)
        for (int i = 0; i < nout; i++) rt_tensor_release(&outs[i]);
    for (int i = 0; ins && i < nin; i++) free(ins[i].data);
    free(ins);
    free(outs);
    rt_free(m);
}

void fz_read(const unsigned char *model, size_t len, int run) {
    pc_arena *a = pc_arena_new();
    if (!a) return;
    ir_program *p = NULL;
    ser_desc d;
    pc_err e = {0};
    int r = model ? ser_read_model_mem(model, len, "model.mlmodel", scratch, a, &p, &d, &e)
                  : ser_read_package(scratch, a, &p, &d, &e);
    if (r == 0) {
        if (run) fz_run_zero(p);
        ir_program_free(p);
    }
    pc_arena_free(a);
}

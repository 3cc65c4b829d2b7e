/* gpus.h: the GPUs of the local backend and which replica holds which
 * (compute.gpu, SPEC section 3). A replica asking for N GPUs gets N of its
 * own, named to it by CUDA_VISIBLE_DEVICES; one asking for none sees none.
 *
 * The inventory is `glia up --gpus LIST` ("0,1", UUIDs, or "none"), else
 * the daemon's own CUDA_VISIBLE_DEVICES, else one GPU per /dev/nvidiaN.
 * Pure but for that detection. */
#ifndef GLIA_GPUS_H
#define GLIA_GPUS_H

#include <stddef.h>

typedef struct glia_gpus {
	size_t n;
	char **names;       /* what CUDA_VISIBLE_DEVICES calls each GPU */
	const void **owner; /* NULL when free */
} glia_gpus;

/* list: "none", a comma-separated list of indexes or UUIDs, or NULL to
 * detect. 0, or -1 with a reason in err (an empty item, more than 64). */
int glia_gpus_init(glia_gpus *g, const char *list, char *err, size_t errlen);
void glia_gpus_free(glia_gpus *g);

/* Gives owner n free GPUs. 0, or -1 (nothing taken) when fewer are free. */
int glia_gpus_take(glia_gpus *g, const void *owner, int n);
void glia_gpus_release(glia_gpus *g, const void *owner);
size_t glia_gpus_free_count(const glia_gpus *g);
/* How many GPUs owner holds. */
size_t glia_gpus_held(const glia_gpus *g, const void *owner);
/* The CUDA_VISIBLE_DEVICES value for owner: its GPUs, comma-separated
 * ("" when it holds none). malloc'ed. */
char *glia_gpus_visible(const glia_gpus *g, const void *owner);

#endif

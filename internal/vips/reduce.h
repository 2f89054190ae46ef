#include <vips/vips.h>

// REDUCE_MAX is the largest reduction lanczos_reduce takes on either axis:
// its kernel and the rows it keeps grow with the reduction (at 16x, 97
// taps and 129 source rows). Larger ones go to vips_resize, which box
// shrinks first.
#define REDUCE_MAX 16

// lanczos_reduce scales an 8-bit image to out_width x out_height with a
// lanczos3 kernel, into a new memory image; RGBA weighted by its alpha
// (premultiplied). in is read top to bottom.
int lanczos_reduce(VipsImage *in, int out_width, int out_height, VipsImage **out);

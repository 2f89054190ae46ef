#include <vips/vips.h>

// lanczos_reduce scales an 8-bit image to out_width x out_height with a
// lanczos3 kernel, into a new memory image. in is read top to bottom.
int lanczos_reduce(VipsImage *in, int out_width, int out_height, VipsImage **out);

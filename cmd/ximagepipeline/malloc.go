package main

// One glibc malloc arena for the whole process, unless the environment
// chose (MALLOC_ARENA_MAX): libvips' large buffers, taken and freed on
// different threads, otherwise spread over an arena per thread and keep the
// RSS near its high-water mark. A worker processing the benchmark photo as
// a hero went from 180-220 MB to 113 MB after 20 images, at the same speed
// (docs/performance.md). It must run before the Go runtime starts threads
// (their first malloc picks their arena), hence a C constructor; library
// users set MALLOC_ARENA_MAX themselves.

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

int malloc_arenas_limited;
#ifdef __GLIBC__
const int malloc_is_glibc = 1;
#else
const int malloc_is_glibc = 0;
#endif

__attribute__((constructor)) static void limit_malloc_arenas(void) {
#ifdef __GLIBC__
	if (!getenv("MALLOC_ARENA_MAX"))
		malloc_arenas_limited = mallopt(M_ARENA_MAX, 1);
#endif
}
*/
import "C"

// mallocArenasLimited reports whether the constructor limited the arenas;
// reading it also keeps the constructor linked in.
var mallocArenasLimited = C.malloc_arenas_limited != 0

// mallocIsGlibc: only glibc's malloc has arenas to limit.
var mallocIsGlibc = C.malloc_is_glibc != 0

/* tensor.h — the check every data-loader target makes of what a loader
 * returned: its shape is consistent and all its values are readable. */
#ifndef NND_FUZZ_TENSOR_H
#define NND_FUZZ_TENSOR_H

#include "../../runtime/runtime.h"
#include "fuzz.h"

/* count examples of per_item values (4 bytes each) at data; dim[0] is count */
static inline void fuzz_check_tensor(const RtTensor *t, const char *what) {
  if (t->count < 0 || t->per_item < 0 || t->rank < 1 || t->rank > PG_MAX_RANK)
    fuzz_fail("%s: a tensor of %lld x %lld values, rank %d", what, (long long)t->count,
              (long long)t->per_item, t->rank);
  if (t->dim[0] != t->count)
    fuzz_fail("%s: dim[0] is %lld, the count %lld", what, (long long)t->dim[0],
              (long long)t->count);
  if (t->count * t->per_item > RT_MAX_ELEMENTS)
    fuzz_fail("%s: %lld x %lld values, more than RT_MAX_ELEMENTS", what, (long long)t->count,
              (long long)t->per_item);
  fuzz_touch(t->data, (size_t)(t->count * t->per_item) * 4);
}

#endif

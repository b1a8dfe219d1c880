/* Inside index/: what publish.c needs from index.c beyond the public header. */
#ifndef LR_INDEX_INTERNAL_H
#define LR_INDEX_INTERNAL_H

#include "lr_index.h"

/* Records the factory string of a loaded index (FAISS files do not keep it; manifests do). */
void lr_index_set_factory_name(lr_index *ix, const char *factory);

#endif /* LR_INDEX_INTERNAL_H */

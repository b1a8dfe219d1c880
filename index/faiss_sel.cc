// The shim of faiss_sel.h: FAISS 1.7.3's SearchParameters with an IDSelector, from C.
#include "faiss_sel.h"

#include <exception>
#include <stdexcept>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFastScan.h>
#include <faiss/c_api/error_impl.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>

namespace {

// The caller's predicate as FAISS's selector.
struct CallbackSelector : faiss::IDSelector {
    lr_faiss_allows allows;
    const void *ctx;
    CallbackSelector(lr_faiss_allows a, const void *c) : allows(a), ctx(c) {}
    bool is_member(faiss::Index::idx_t id) const override { return allows(ctx, (int64_t)id) != 0; }
};

} // namespace

extern "C" int lr_faiss_takes_selector(const FaissIndex *index) {
    const faiss::Index *ix = reinterpret_cast<const faiss::Index *>(index);
    // fast-scan lists are scanned in blocks that take no selector in 1.7.3
    if (dynamic_cast<const faiss::IndexIVFFastScan *>(ix)) return 0;
    return dynamic_cast<const faiss::IndexIVF *>(ix) || dynamic_cast<const faiss::IndexFlat *>(ix);
}

extern "C" int lr_faiss_search_allowed(const FaissIndex *index, idx_t n, const float *x, idx_t k, size_t nprobe,
                                       lr_faiss_allows allows, const void *ctx, float *distances, idx_t *labels) {
    // No printing here (FAISS's CATCH_AND_HANDLE prints in debug builds): the message is kept
    // where faiss_get_last_error finds it, as the C API does.
    try {
        const faiss::Index *ix = reinterpret_cast<const faiss::Index *>(index);
        CallbackSelector sel(allows, ctx);
        if (!lr_faiss_takes_selector(index)) {
            faiss_last_exception = std::make_exception_ptr(std::runtime_error("this index type takes no id selector"));
            return -5;
        }
        if (const faiss::IndexIVF *ivf = dynamic_cast<const faiss::IndexIVF *>(ix)) {
            faiss::SearchParametersIVF p;
            p.sel = &sel;
            p.nprobe = nprobe ? nprobe : ivf->nprobe;
            ivf->search(n, x, k, distances, labels, &p);
            return 0;
        }
        faiss::SearchParameters p; // a flat index
        p.sel = &sel;
        ix->search(n, x, k, distances, labels, &p);
        return 0;
    } catch (faiss::FaissException &e) {
        faiss_last_exception = std::make_exception_ptr(e);
        return -2;
    } catch (std::exception &e) {
        faiss_last_exception = std::make_exception_ptr(e);
        return -4;
    } catch (...) {
        faiss_last_exception = std::make_exception_ptr(std::runtime_error("unknown error"));
        return -1;
    }
}

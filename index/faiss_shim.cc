// The shim of faiss_shim.h: FAISS 1.7.3's SearchParameters with an IDSelector, from C.
#include "faiss_shim.h"

#include <cstring>
#include <exception>
#include <vector>
#include <stdexcept>

#include <faiss/Index.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFFastScan.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/invlists/InvertedLists.h>
#include <faiss/c_api/error_impl.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>

namespace {

// What FAISS's CATCH_AND_HANDLE does, without its printing in debug builds: the exception kept
// where faiss_get_last_error finds it, and the C API's code for its kind. Called in a catch.
int keep_exception() {
    try {
        throw;
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

// The caller's predicate as FAISS's selector.
struct CallbackSelector : faiss::IDSelector {
    lr_faiss_allows allows;
    const void *ctx;
    CallbackSelector(lr_faiss_allows a, const void *c) : allows(a), ctx(c) {}
    bool is_member(faiss::Index::idx_t id) const override { return allows(ctx, (int64_t)id) != 0; }
};

bool is_graph(const faiss::IndexIVF *ivf) { return dynamic_cast<const faiss::IndexHNSW *>(ivf->quantizer) != nullptr; }

// The coarse search's parameters at nprobe: a graph quantizer's efSearch (lr_faiss_coarse_ef)
// set in *graph and returned, nullptr for any other quantizer (its own settings).
faiss::SearchParameters *coarse_params(const faiss::IndexIVF *ivf, size_t nprobe, faiss::SearchParametersHNSW *graph) {
    if (!is_graph(ivf)) return nullptr;
    graph->efSearch = lr_faiss_coarse_ef(nprobe);
    return graph;
}

} // namespace

extern "C" int lr_faiss_takes_selector(const FaissIndex *index) {
    const faiss::Index *ix = reinterpret_cast<const faiss::Index *>(index);
    // fast-scan lists are scanned in blocks that take no selector in 1.7.3
    if (dynamic_cast<const faiss::IndexIVFFastScan *>(ix)) return 0;
    return dynamic_cast<const faiss::IndexIVF *>(ix) || dynamic_cast<const faiss::IndexFlat *>(ix);
}

extern "C" int lr_faiss_search_allowed(const FaissIndex *index, idx_t n, const float *x, idx_t k, size_t nprobe,
                                       lr_faiss_allows allows, const void *ctx, float *distances, idx_t *labels) {
    try {
        const faiss::Index *ix = reinterpret_cast<const faiss::Index *>(index);
        CallbackSelector sel(allows, ctx);
        if (!lr_faiss_takes_selector(index)) {
            faiss_last_exception = std::make_exception_ptr(std::runtime_error("this index type takes no id selector"));
            return -5;
        }
        if (const faiss::IndexIVF *ivf = dynamic_cast<const faiss::IndexIVF *>(ix)) {
            faiss::SearchParametersIVF p;
            faiss::SearchParametersHNSW graph;
            p.sel = &sel;
            p.nprobe = nprobe ? nprobe : ivf->nprobe;
            p.quantizer_params = coarse_params(ivf, p.nprobe, &graph);
            ivf->search(n, x, k, distances, labels, &p);
            return 0;
        }
        faiss::SearchParameters p; // a flat index
        p.sel = &sel;
        ix->search(n, x, k, distances, labels, &p);
        return 0;
    } catch (...) {
        return keep_exception();
    }
}

extern "C" int lr_faiss_coarse_ef(size_t nprobe) { return nprobe > 16 ? (int)nprobe : 16; }

extern "C" int lr_faiss_coarse_is_graph(const FaissIndex *index) {
    const faiss::IndexIVF *ivf = dynamic_cast<const faiss::IndexIVF *>(reinterpret_cast<const faiss::Index *>(index));
    return ivf && is_graph(ivf);
}

extern "C" int lr_faiss_coarse_search(const FaissIndex *index, idx_t n, const float *x, idx_t nprobe, float *distances,
                                      idx_t *lists) {
    try {
        const faiss::IndexIVF *ivf = dynamic_cast<const faiss::IndexIVF *>(reinterpret_cast<const faiss::Index *>(index));
        if (!ivf) {
            faiss_last_exception = std::make_exception_ptr(std::runtime_error("not an IVF index"));
            return -5;
        }
        faiss::SearchParametersHNSW graph;
        ivf->quantizer->search(n, x, nprobe, distances, lists, coarse_params(ivf, (size_t)nprobe, &graph));
        return 0;
    } catch (...) {
        return keep_exception();
    }
}

extern "C" int lr_faiss_ivf_remap_ids(FaissIndex *index, const int64_t *old_to_new, size_t n_old, size_t *kept) {
    try {
        faiss::Index *ix = reinterpret_cast<faiss::Index *>(index);
        faiss::IndexIVF *ivf = dynamic_cast<faiss::IndexIVF *>(ix);
        faiss::ArrayInvertedLists *lists = ivf ? dynamic_cast<faiss::ArrayInvertedLists *>(ivf->invlists) : nullptr;
        if (!lists || dynamic_cast<faiss::IndexIVFFastScan *>(ix)) {
            faiss_last_exception = std::make_exception_ptr(std::runtime_error("ids can be renumbered only in an IVF index with array inverted lists"));
            return -5;
        }
        size_t total = 0, cs = lists->code_size;
        for (size_t l = 0; l < lists->nlist; l++) {
            std::vector<faiss::Index::idx_t> &ids = lists->ids[l];
            std::vector<uint8_t> &codes = lists->codes[l];
            size_t w = 0;
            for (size_t j = 0; j < ids.size(); j++) {
                faiss::Index::idx_t id = ids[j];
                int64_t to = id >= 0 && (size_t)id < n_old ? old_to_new[id] : -1;
                if (to < 0) continue;
                ids[w] = to;
                if (w != j) memmove(codes.data() + w * cs, codes.data() + j * cs, cs);
                w++;
            }
            ids.resize(w);
            codes.resize(w * cs);
            total += w;
        }
        ivf->ntotal = (faiss::Index::idx_t)total;
        if (ivf->direct_map.type != faiss::DirectMap::NoMap) ivf->make_direct_map(true); // rebuilt for the new ids
        *kept = total;
        return 0;
    } catch (...) {
        return keep_exception();
    }
}

extern "C" int lr_faiss_ivf_sq8(const FaissIndex *index, lr_faiss_sq8 *out) {
    const faiss::IndexIVFScalarQuantizer *ivf =
        dynamic_cast<const faiss::IndexIVFScalarQuantizer *>(reinterpret_cast<const faiss::Index *>(index));
    if (!ivf || ivf->sq.qtype != faiss::ScalarQuantizer::QT_8bit || ivf->metric_type != faiss::METRIC_INNER_PRODUCT ||
        !dynamic_cast<const faiss::ArrayInvertedLists *>(ivf->invlists) || ivf->code_size != (size_t)ivf->d ||
        ivf->sq.trained.size() != 2 * (size_t)ivf->d)
        return -5;
    out->dim = (size_t)ivf->d;
    out->nlist = ivf->nlist;
    out->by_residual = ivf->by_residual;
    out->vmin = ivf->sq.trained.data();
    out->vdiff = ivf->sq.trained.data() + ivf->d;
    return 0;
}

extern "C" void lr_faiss_ivf_sq8_list(const FaissIndex *index, size_t list, size_t *n, const uint8_t **codes,
                                      const int64_t **ids) {
    // lr_faiss_ivf_sq8 checked the kinds: no dynamic_cast per list
    const faiss::IndexIVF *ivf = static_cast<const faiss::IndexIVF *>(reinterpret_cast<const faiss::Index *>(index));
    const faiss::ArrayInvertedLists *lists = static_cast<const faiss::ArrayInvertedLists *>(ivf->invlists);
    *n = lists->ids[list].size();
    *codes = lists->codes[list].data();
    *ids = reinterpret_cast<const int64_t *>(lists->ids[list].data());
}

/* The built-in synthetic catalogue: items with title, brand and category text, and users whose
 * sequences follow tastes that this text reveals.
 *
 * Generative model. A category tree of top categories (a fixed list), sub-categories (a product
 * noun of the top, "Bolts") and leaves (a modifier plus that noun, "Stainless Bolts"); the number
 * of leaves grows with sqrt(items). Each leaf owns a vocabulary of LEAF_VOCAB modifiers, each sub
 * SUB_VOCAB more; leaves share some words by chance, as real ones do. Each top has its own brands
 * and borrows a few from other tops. An item draws a leaf (Zipf-like, so some categories are
 * large), a brand of the leaf's top (skewed), and a title of 3 to 7 words: mostly leaf words,
 * some sub words, some global fillers, the product noun, maybe a size and a model number.
 * A user holds a taste of 1 to 3 weighted leaves and 1 or 2 brands. Each step may drift (one
 * taste leaf moves to a sibling, or sometimes anywhere), then picks a taste leaf and an item of
 * it by popularity, often of a preferred brand. Consecutive items therefore share category and
 * brand words far more than chance, which is what lets a text model predict the next item.
 *
 * Every random choice comes from one xoshiro256** stream seeded by splitmix64 and uses integer
 * arithmetic (or exact comparisons of 53-bit uniforms), so a config gives the same dataset on
 * every platform. Sampling is by binary search in cumulative integer weights. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data_internal.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define NOUNS_PER_TOP 16
#define LEAF_VOCAB 24
#define SUB_VOCAB 8
#define BRAND_PERCENT 35 /* steps restricted to a preferred brand when the leaf has it */
#define SIBLING_PERCENT 75 /* drifts that stay near the old leaf rather than jump anywhere */

static const char *const TOPS[] = {
    "Lab Supplies", "Test & Measurement", "Janitorial & Sanitation", "Fasteners", "Electrical",
    "Safety", "Hydraulics & Pneumatics", "Power Tools", "Abrasives", "Adhesives & Tapes",
    "Filtration", "Material Handling"};

static const char *const TOP_NOUNS[][NOUNS_PER_TOP] = {
    {"Beakers", "Flasks", "Pipettes", "Burettes", "Graduated Cylinders", "Test Tubes", "Vials",
     "Petri Dishes", "Funnels", "Crucibles", "Spatulas", "Stir Bars", "Microscope Slides",
     "Centrifuge Tubes", "Wash Bottles", "Desiccators"},
    {"Calipers", "Micrometers", "Multimeters", "Thermometers", "pH Meters", "Pressure Gauges",
     "Dial Indicators", "Data Loggers", "Oscilloscopes", "Tachometers", "Hygrometers", "Scales",
     "Force Gauges", "Levels", "Tape Measures", "Thickness Gauges"},
    {"Mops", "Brooms", "Buckets", "Trash Liners", "Paper Towels", "Soap Dispensers",
     "Disinfectants", "Degreasers", "Scrub Brushes", "Sponges", "Wipes", "Floor Cleaners",
     "Dust Pans", "Squeegees", "Hand Sanitizers", "Toilet Tissue"},
    {"Bolts", "Screws", "Nuts", "Washers", "Rivets", "Anchors", "Threaded Rods", "Dowel Pins",
     "Retaining Rings", "Studs", "Set Screws", "Cotter Pins", "Eye Bolts", "Hose Clamps",
     "Threaded Inserts", "Spacers"},
    {"Wire", "Cables", "Connectors", "Terminals", "Switches", "Relays", "Fuses",
     "Circuit Breakers", "Outlets", "Plugs", "Conduit", "Junction Boxes", "Cable Ties",
     "Heat Shrink Tubing", "Transformers", "Extension Cords"},
    {"Gloves", "Safety Glasses", "Goggles", "Respirators", "Ear Plugs", "Hard Hats",
     "Safety Vests", "Face Shields", "Coveralls", "Harnesses", "Lanyards", "First Aid Kits",
     "Eyewash Stations", "Safety Signs", "Knee Pads", "Aprons"},
    {"Valves", "Fittings", "Hoses", "Air Cylinders", "Pumps", "Regulators", "Quick Couplings",
     "Manifolds", "Actuators", "Solenoid Valves", "Tubing", "Lubricators", "Mufflers",
     "Check Valves", "Accumulators", "Seals"},
    {"Drills", "Impact Drivers", "Circular Saws", "Jigsaws", "Angle Grinders", "Sanders",
     "Routers", "Rotary Tools", "Heat Guns", "Reciprocating Saws", "Planers", "Batteries",
     "Chargers", "Drill Bits", "Saw Blades", "Nail Guns"},
    {"Sanding Discs", "Sanding Belts", "Grinding Wheels", "Cut-Off Wheels", "Flap Discs",
     "Wire Brushes", "Sandpaper Sheets", "Polishing Pads", "Deburring Tools", "Abrasive Rolls",
     "Files", "Sharpening Stones", "Buffing Wheels", "Mounted Points", "Scouring Pads",
     "Blast Media"},
    {"Duct Tape", "Masking Tape", "Electrical Tape", "Double-Sided Tape", "Epoxies",
     "Super Glue", "Hot Melt Glue", "Sealants", "Threadlockers", "Caulks", "Foam Tape",
     "Packing Tape", "Label Tape", "Transfer Tape", "Contact Cement", "Spray Adhesives"},
    {"Air Filters", "Water Filters", "Filter Cartridges", "Filter Bags", "Membranes",
     "Syringe Filters", "HEPA Filters", "Oil Filters", "Strainers", "Mesh Screens",
     "Filter Housings", "Carbon Filters", "Sediment Filters", "Filter Paper", "Capsule Filters",
     "Prefilters"},
    {"Hand Trucks", "Carts", "Dollies", "Casters", "Pallet Jacks", "Hoists", "Shelving",
     "Storage Bins", "Drum Handlers", "Lifting Slings", "Ratchet Straps", "Conveyors",
     "Ladders", "Totes", "Workbenches", "Bin Labels"}};

static const char *const MODIFIERS[] = {
    "Stainless", "Steel", "Brass", "Copper", "Aluminum", "Titanium", "Nickel", "Zinc", "Carbon",
    "Nylon", "Rubber", "Silicone", "Neoprene", "Nitrile", "Latex", "Vinyl", "Polypropylene",
    "Polyethylene", "PTFE", "PVC", "Acrylic", "Glass", "Borosilicate", "Quartz", "Ceramic",
    "Porcelain", "Cotton", "Kevlar", "Foam", "Fiberglass", "Graphite", "Tungsten", "Chrome",
    "Galvanized", "Anodized", "Plated", "Coated", "Insulated", "Braided", "Threaded", "Flanged",
    "Hex", "Square", "Round", "Flat", "Tapered", "Conical", "Spiral", "Coiled", "Flexible",
    "Rigid", "Adjustable", "Locking", "Quick-Release", "Self-Tapping", "Self-Adhesive",
    "Magnetic", "Digital", "Analog", "Wireless", "Cordless", "Rechargeable", "Portable",
    "Benchtop", "Handheld", "Wall-Mount", "Inline", "Angled", "Straight", "Reducing",
    "Double-Sided", "Single-Use", "Disposable", "Reusable", "Sterile", "Autoclavable",
    "Graduated", "Volumetric", "Precision", "Calibrated", "Waterproof", "Fireproof",
    "Explosion-Proof", "Anti-Static", "Non-Slip", "Cut-Resistant", "Chemical-Resistant",
    "Heat-Resistant", "Corrosion-Resistant", "Abrasion-Resistant", "High-Pressure",
    "Low-Profile", "High-Visibility", "Reflective", "Ventilated", "Padded", "Reinforced",
    "Lightweight", "Ergonomic", "Miniature", "Jumbo", "Wide", "Narrow", "Deep", "Shallow", "Fine",
    "Coarse", "Medium", "Ultra-Fine", "Diamond", "Zirconia", "Garnet", "Emery", "Silicon",
    "Pneumatic", "Hydraulic", "Electric", "Manual", "Automatic", "Variable-Speed", "Brushless",
    "Three-Phase", "Low-Voltage", "Lab-Grade", "Food-Grade", "Medical-Grade", "Marine",
    "Outdoor", "Indoor", "Clear", "Amber", "Black", "White", "Blue", "Red", "Yellow", "Orange",
    "Green", "Gray", "Transparent", "Opaque", "Scented", "Unscented", "Concentrated",
    "Biodegradable", "Recycled", "Solid", "Hollow", "Split", "Slotted", "Knurled", "Serrated",
    "Beveled", "Curved", "Offset", "Telescoping", "Folding", "Stackable", "Nesting", "Modular",
    "Universal", "Metric", "Imperial", "Dual", "Multi-Purpose", "Sealed", "Vented", "Swivel",
    "Ratcheting", "Insulating", "Antimicrobial", "Powder-Free", "Lint-Free"};

static const char *const PRE_FILLERS[] = {"Heavy-Duty", "Industrial", "Professional", "Premium",
                                          "Commercial", "Economy", "Standard", "Compact"};
static const char *const POST_FILLERS[] = {
    "10mm", "25mm", "1/4-Inch", "3/8-Inch", "1/2-Inch", "3/4-Inch", "6-Inch", "12-Inch", "500ml",
    "1 Gallon", "100 Count", "50 Count", "Pack of 10", "Pack of 50", "2-Pack", "Set of 12", "Kit",
    "Assorted"};
static const char *const SYLLABLES[] = {
    "ar", "bel", "cor", "dex", "el", "fin", "gal", "hex", "ion", "jet", "kor", "lum", "mar", "nov",
    "or", "pra", "quin", "ros", "sol", "tek", "ul", "vex", "wal", "xen", "yor", "zan", "tri",
    "max", "dur", "flo", "gri", "pro", "sta", "ver", "tor", "lin", "cal", "mec", "tra", "ox"};
static const char *const BRAND_SUFFIXES[] = {" Labs", " Industrial", " Tools", " Scientific",
                                             " Supply", " Pro"};

/* xoshiro256** seeded by splitmix64: small, fast, and the same on every platform. */
typedef struct { uint64_t s[4]; } rng;

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t next(rng *r) {
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n), n >= 1; rejection keeps it unbiased where a bare modulo would not be. */
static uint64_t below(rng *r, uint64_t n) {
    uint64_t lim = (0 - n) % n;
    for (;;) {
        uint64_t x = next(r);
        if (x >= lim) return x % n;
    }
}

static double uniform(rng *r) { return (double)(next(r) >> 11) * 0x1.0p-53; }

static void shuffle(rng *r, int32_t *v, size_t n) {
    for (size_t k = n; k-- > 1;) {
        size_t j = below(r, k + 1);
        int32_t t = v[k];
        v[k] = v[j];
        v[j] = t;
    }
}

/* A weighted list entry. Brand and running weight sit beside the id so that one draw (a brand
 * search, then a weight search) touches few cache lines: at a million items the latency of
 * those searches is most of the time spent on sequences. */
typedef struct {
    uint64_t cum; /* the weights of the list up to and including this entry */
    int32_t id;   /* an item, or a leaf in the list of leaf popularity */
    uint32_t brand;
} slot;

/* Index k in [lo, hi) with chance proportional to v[k].cum - v[k-1].cum. */
static size_t pick(rng *r, const slot *v, size_t lo, size_t hi) {
    uint64_t base = lo ? v[lo - 1].cum : 0, x = base + below(r, v[hi - 1].cum - base);
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].cum > x) hi = mid;
        else lo = mid + 1;
    }
    return lo;
}

/* The first k in [lo, hi) with v[k].brand >= brand, or hi; brands ascend on that range. */
static size_t first_brand(const slot *v, size_t lo, size_t hi, uint32_t brand) {
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid].brand < brand) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

typedef struct { uint32_t top, noun; uint16_t vocab[SUB_VOCAB]; } sub_cat;
typedef struct { uint16_t vocab[LEAF_VOCAB]; char path[128]; } leaf_cat; /* vocab[0] names it */
typedef struct { char name[32]; } brand;

typedef struct {
    rng r;
    size_t n_items, n_top, subs_per_top, n_sub, n_leaf, n_brand;
    sub_cat *subs;                    /* n_sub; sub i belongs to top i / subs_per_top */
    leaf_cat *leaves;                 /* n_leaf */
    brand *brands;                    /* n_brand; brand b's home top is b % n_top */
    uint32_t *leaf_sub, *leaf_top;    /* n_leaf each */
    size_t *sub_off, *top_off;        /* n_sub + 1, n_top + 1: offsets into the two below */
    int32_t *sub_leaves, *top_leaves; /* n_leaf each: leaves grouped by sub, by top */
    slot *leaf_pop;                   /* n_leaf: leaf popularity for new items */
    size_t *tb_off;                   /* n_top + 1: offsets into tb */
    uint32_t *tb;                     /* 2 n_brand + n_top: each top's brands, home ones first */
    uint32_t *item_leaf, *item_brand, *item_w; /* n_items each */
    int32_t *order, *scratch;         /* n_items each, for sorting */
    size_t *leaf_off, *brand_off;     /* n_leaf + 1, n_brand + 1: offsets into slots, scratch */
    slot *slots;                      /* n_items by (leaf, brand, popularity rank) */
    int32_t *seq;                     /* max_seq_len */
} synth;

static size_t clamp(size_t v, size_t lo, size_t hi) { return v < lo ? lo : v > hi ? hi : v; }

static void plan(synth *s, size_t items) {
    size_t root = 0;
    while ((root + 1) * (root + 1) <= items) root++; /* integer sqrt: no libm in the output */
    s->n_items = items;
    s->n_leaf = clamp(root / 2, 16, 1000);
    s->n_top = clamp(s->n_leaf / 8, 4, COUNT(TOPS));
    s->subs_per_top = clamp(s->n_leaf / (3 * s->n_top), 1, NOUNS_PER_TOP);
    s->n_sub = s->n_top * s->subs_per_top; /* <= n_leaf / 3, so every sub gets a leaf */
    s->n_brand = clamp(root, 24, 1000);
}

#define ALLOC(p, n) ((p) = calloc((n), sizeof *(p)))

static int synth_alloc(synth *s, size_t max_seq_len, lr_err *err) {
    size_t n = s->n_items;
    if (!ALLOC(s->subs, s->n_sub) || !ALLOC(s->leaves, s->n_leaf) ||
        !ALLOC(s->brands, s->n_brand) || !ALLOC(s->leaf_sub, s->n_leaf) ||
        !ALLOC(s->leaf_top, s->n_leaf) || !ALLOC(s->sub_off, s->n_sub + 1) ||
        !ALLOC(s->top_off, s->n_top + 1) || !ALLOC(s->sub_leaves, s->n_leaf) ||
        !ALLOC(s->top_leaves, s->n_leaf) || !ALLOC(s->leaf_pop, s->n_leaf) ||
        !ALLOC(s->tb_off, s->n_top + 1) || !ALLOC(s->tb, 2 * s->n_brand + s->n_top) ||
        !ALLOC(s->item_leaf, n) || !ALLOC(s->item_brand, n) || !ALLOC(s->item_w, n) ||
        !ALLOC(s->leaf_off, s->n_leaf + 1) || !ALLOC(s->brand_off, s->n_brand + 1) ||
        !ALLOC(s->order, n) || !ALLOC(s->scratch, n) || !ALLOC(s->slots, n) ||
        !ALLOC(s->seq, max_seq_len))
        return lr_err_set(err, LR_ENOMEM, "out of memory for a synthetic catalogue of %zu items",
                          n);
    return LR_OK;
}

static void synth_free(synth *s) {
    void *all[] = {s->subs, s->leaves, s->brands, s->leaf_sub, s->leaf_top, s->sub_off,
                   s->top_off, s->sub_leaves, s->top_leaves, s->leaf_pop, s->tb_off, s->tb,
                   s->item_leaf, s->item_brand, s->item_w, s->order, s->scratch, s->leaf_off,
                   s->brand_off, s->slots, s->seq};
    for (size_t i = 0; i < COUNT(all); i++) free(all[i]);
}

/* Groups elements by key[e], taking them in the order `order` (0..n-1 when NULL) so that the
 * grouping is stable: off gets n_keys + 1 offsets into out. */
static void bucket(size_t n_keys, size_t n, const uint32_t *key, const int32_t *order,
                   size_t *off, int32_t *out) {
    memset(off, 0, (n_keys + 1) * sizeof *off);
    for (size_t i = 0; i < n; i++) off[key[i] + 1]++;
    for (size_t k = 0; k < n_keys; k++) off[k + 1] += off[k];
    for (size_t i = 0; i < n; i++) {
        int32_t e = order ? order[i] : (int32_t)i;
        out[off[key[e]]++] = e; /* off[k] ends as the end of group k */
    }
    memmove(off + 1, off, n_keys * sizeof *off);
    off[0] = 0;
}

/* Fills out[from..k) with values in [0, n) distinct from each other and from out[0..from). */
static void sample_distinct(rng *r, uint16_t *out, size_t from, size_t k, size_t n) {
    for (size_t i = from; i < k; i++) {
        size_t j;
        do {
            out[i] = (uint16_t)below(r, n);
            for (j = 0; j < i && out[j] != out[i]; j++) continue;
        } while (j < i);
    }
}

static void build_subs(synth *s) {
    for (size_t t = 0; t < s->n_top; t++) {
        uint16_t nouns[NOUNS_PER_TOP];
        sample_distinct(&s->r, nouns, 0, s->subs_per_top, NOUNS_PER_TOP);
        for (size_t j = 0; j < s->subs_per_top; j++) {
            sub_cat *c = &s->subs[t * s->subs_per_top + j];
            c->top = (uint32_t)t;
            c->noun = nouns[j];
            sample_distinct(&s->r, c->vocab, 0, SUB_VOCAB, COUNT(MODIFIERS));
        }
    }
}

/* A leaf's name word must differ from the other leaves of its sub, so paths stay unique. */
static void name_leaf(synth *s, size_t l) {
    leaf_cat *lc = &s->leaves[l];
    const sub_cat *c = &s->subs[s->leaf_sub[l]];
    size_t a = s->sub_off[s->leaf_sub[l]], b = s->sub_off[s->leaf_sub[l] + 1], k;
    do {
        lc->vocab[0] = (uint16_t)below(&s->r, COUNT(MODIFIERS));
        for (k = a; k < b; k++)
            if ((size_t)s->sub_leaves[k] < l &&
                s->leaves[s->sub_leaves[k]].vocab[0] == lc->vocab[0])
                break;
    } while (k < b);
    sample_distinct(&s->r, lc->vocab, 1, LEAF_VOCAB, COUNT(MODIFIERS));
    const char *noun = TOP_NOUNS[c->top][c->noun];
    snprintf(lc->path, sizeof lc->path, "%s > %s > %s %s", TOPS[c->top], noun,
             MODIFIERS[lc->vocab[0]], noun);
}

static void build_tree(synth *s) {
    build_subs(s);
    for (size_t l = 0; l < s->n_leaf; l++) {
        s->leaf_sub[l] = (uint32_t)(l < s->n_sub ? l : below(&s->r, s->n_sub));
        s->leaf_top[l] = s->subs[s->leaf_sub[l]].top;
    }
    bucket(s->n_sub, s->n_leaf, s->leaf_sub, NULL, s->sub_off, s->sub_leaves);
    bucket(s->n_top, s->n_leaf, s->leaf_top, NULL, s->top_off, s->top_leaves);
    for (size_t l = 0; l < s->n_leaf; l++) name_leaf(s, l);
    /* Zipf-like sizes over a shuffled rank, so big leaves are spread over the tree. */
    int32_t *rank = s->scratch;
    for (size_t l = 0; l < s->n_leaf; l++) rank[l] = (int32_t)l;
    shuffle(&s->r, rank, s->n_leaf);
    uint64_t sum = 0;
    for (size_t l = 0; l < s->n_leaf; l++) {
        s->leaf_pop[l].cum = sum += (1u << 20) / ((uint64_t)rank[l] + 5);
        s->leaf_pop[l].id = (int32_t)l;
    }
}

static void append(char *buf, size_t cap, size_t *len, const char *sep, const char *w) {
    for (const char *p = sep; *p && *len + 1 < cap; p++) buf[(*len)++] = *p;
    for (const char *p = w; *p && *len + 1 < cap; p++) buf[(*len)++] = *p;
    buf[*len] = '\0';
}

static void brand_name(synth *s, size_t b) {
    char *out = s->brands[b].name;
    size_t cap = sizeof s->brands[b].name, k;
    do {
        size_t len = 0, n_syl = 2 + (below(&s->r, 3) == 0);
        out[0] = '\0';
        for (size_t i = 0; i < n_syl; i++)
            append(out, cap, &len, "", SYLLABLES[below(&s->r, COUNT(SYLLABLES))]);
        out[0] = (char)(out[0] - 'a' + 'A');
        if (below(&s->r, 10) < 3)
            append(out, cap, &len, "", BRAND_SUFFIXES[below(&s->r, COUNT(BRAND_SUFFIXES))]);
        for (k = 0; k < b && strcmp(s->brands[k].name, out) != 0; k++) continue;
    } while (k < b);
}

/* Each top lists its home brands, then borrows a quarter as many from other tops. */
static void build_brands(synth *s) {
    for (size_t b = 0; b < s->n_brand; b++) brand_name(s, b);
    size_t k = 0;
    for (size_t t = 0; t < s->n_top; t++) {
        s->tb_off[t] = k;
        for (size_t b = t; b < s->n_brand; b += s->n_top) s->tb[k++] = (uint32_t)b;
        size_t borrow = (k - s->tb_off[t]) / 4 + 1;
        for (size_t j = 0; j < borrow; j++) {
            size_t b, i;
            do {
                b = below(&s->r, s->n_brand);
                for (i = s->tb_off[t]; i < k && s->tb[i] != b; i++) continue;
            } while (b % s->n_top == t || i < k);
            s->tb[k++] = (uint32_t)b;
        }
    }
    s->tb_off[s->n_top] = k;
}

static void make_title(synth *s, uint32_t leaf, uint32_t br, char *out, size_t cap) {
    const leaf_cat *lc = &s->leaves[leaf];
    const sub_cat *sc = &s->subs[s->leaf_sub[leaf]];
    const char *words[6];
    size_t n = 0, want = 2 + below(&s->r, 5), len = 0; /* with the noun: 3 to 7 words */
    if (below(&s->r, 2)) words[n++] = MODIFIERS[lc->vocab[0]]; /* the leaf's own name word */
    for (size_t tries = 0; n < want && tries < 3 * want; tries++) {
        uint64_t u = below(&s->r, 100);
        const char *w = u < 65   ? MODIFIERS[lc->vocab[below(&s->r, LEAF_VOCAB)]]
                        : u < 85 ? MODIFIERS[sc->vocab[below(&s->r, SUB_VOCAB)]]
                                 : PRE_FILLERS[below(&s->r, COUNT(PRE_FILLERS))];
        size_t i;
        for (i = 0; i < n && words[i] != w; i++) continue;
        if (i == n) words[n++] = w;
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) append(out, cap, &len, i ? " " : "", words[i]);
    append(out, cap, &len, " ", TOP_NOUNS[sc->top][sc->noun]);
    if (below(&s->r, 100) < 35)
        append(out, cap, &len, ", ", POST_FILLERS[below(&s->r, COUNT(POST_FILLERS))]);
    if (below(&s->r, 100) < 40) { /* model numbers start with the brand's letters: "KO-2040" */
        const char *name = s->brands[br].name;
        char model[16];
        char c2 = name[1] >= 'a' && name[1] <= 'z' ? (char)(name[1] - 'a' + 'A') : name[1];
        snprintf(model, sizeof model, "%c%c-%u", name[0], c2, (unsigned)(100 + below(&s->r, 9900)));
        append(out, cap, &len, " ", model);
    }
}

static int make_items(synth *s, lr_data_builder *b, lr_err *err) {
    char title[256], token[24];
    for (size_t i = 0; i < s->n_items; i++) {
        /* The first n_leaf items take one leaf each so that no leaf is empty. */
        uint32_t leaf = (uint32_t)(i < s->n_leaf ? i : pick(&s->r, s->leaf_pop, 0, s->n_leaf));
        size_t a = s->tb_off[s->leaf_top[leaf]], n = s->tb_off[s->leaf_top[leaf] + 1] - a;
        uint32_t br = s->tb[a + below(&s->r, below(&s->r, n) + 1)]; /* early brands lead */
        s->item_leaf[i] = leaf;
        s->item_brand[i] = br;
        make_title(s, leaf, br, title, sizeof title);
        const char *brand = s->brands[br].name, *category = s->leaves[leaf].path;
        char *text = lr_data_prompt_text(title, brand, category);
        if (!text)
            return lr_err_set(err, LR_ENOMEM, "out of memory writing the text of item %zu", i);
        int64_t idx;
        int len = snprintf(token, sizeof token, "%zu", i);
        int rc = lr_data_builder_item(b, token, (size_t)len, &idx, err);
        if (!rc) rc = lr_data_builder_item_text(b, (size_t)idx, text, strlen(text), err);
        if (!rc) rc = lr_data_builder_item_fields(b, (size_t)idx, title, brand, category, err);
        free(text);
        if (rc) return rc;
    }
    return LR_OK;
}

/* Sorts the items into slots by (leaf, brand, popularity rank): a leaf, or one brand within it,
 * is then a range of slots, heaviest first. Weights fall Zipf-like over a random rank within
 * the leaf, so each leaf has a few hits and a long tail. */
static void index_items(synth *s) {
    size_t n = s->n_items;
    bucket(s->n_leaf, n, s->item_leaf, NULL, s->leaf_off, s->order);
    for (size_t l = 0; l < s->n_leaf; l++) {
        size_t a = s->leaf_off[l], m = s->leaf_off[l + 1] - a;
        shuffle(&s->r, s->order + a, m);
        for (size_t k = 0; k < m; k++)
            s->item_w[s->order[a + k]] = (uint32_t)((1u << 21) / (k + 3) + 1);
    }
    /* stable passes: by brand keeping the rank order, then by leaf keeping both */
    bucket(s->n_brand, n, s->item_brand, s->order, s->brand_off, s->scratch);
    bucket(s->n_leaf, n, s->item_leaf, s->scratch, s->leaf_off, s->order);
    uint64_t sum = 0;
    for (size_t k = 0; k < n; k++) {
        int32_t it = s->order[k];
        s->slots[k] = (slot){.cum = sum += s->item_w[it], .id = it, .brand = s->item_brand[it]};
    }
}

typedef struct {
    uint32_t leaf[3], w[3], brand[2];
    size_t n_leaf, n_brand;
} taste;

/* A leaf in proportion to its number of items: the leaf of a uniform slot. */
static uint32_t random_leaf(synth *s) {
    size_t x = below(&s->r, s->n_items), lo = 0, hi = s->n_leaf;
    while (lo + 1 < hi) { /* leaf_off[lo] <= x < leaf_off[hi] */
        size_t mid = lo + (hi - lo) / 2;
        if (s->leaf_off[mid] <= x) lo = mid;
        else hi = mid;
    }
    return (uint32_t)lo;
}

static uint32_t brand_in_leaf(synth *s, uint32_t leaf) {
    size_t a = s->leaf_off[leaf], n = s->leaf_off[leaf + 1] - a;
    return s->slots[a + below(&s->r, n)].brand;
}

static void taste_init(synth *s, taste *t) {
    t->n_leaf = 1 + below(&s->r, 3);
    for (size_t k = 0; k < t->n_leaf; k++) {
        t->leaf[k] = random_leaf(s);
        t->w[k] = 1 + (uint32_t)below(&s->r, 4);
    }
    t->n_brand = 1 + below(&s->r, 2);
    for (size_t j = 0; j < t->n_brand; j++) t->brand[j] = brand_in_leaf(s, t->leaf[j % t->n_leaf]);
}

/* Another member of list[0..n) than old, or old when it is alone. */
static uint32_t other_in(synth *s, const int32_t *list, size_t n, uint32_t old) {
    if (n < 2) return old;
    int32_t x = list[below(&s->r, n - 1)];
    return (uint32_t)((uint32_t)x == old ? list[n - 1] : x);
}

static void drift(synth *s, taste *t) {
    size_t k = below(&s->r, t->n_leaf);
    uint32_t old = t->leaf[k], sub = s->leaf_sub[old], top = s->leaf_top[old];
    if (below(&s->r, 100) < SIBLING_PERCENT) {
        size_t a = s->sub_off[sub], b = s->sub_off[sub + 1];
        uint32_t x = other_in(s, s->sub_leaves + a, b - a, old);
        if (x == old) {
            a = s->top_off[top];
            b = s->top_off[top + 1];
            x = other_in(s, s->top_leaves + a, b - a, old);
        }
        t->leaf[k] = x;
    } else {
        t->leaf[k] = random_leaf(s);
        if (below(&s->r, 2)) { /* two statements: C leaves the order of the two draws open */
            size_t j = below(&s->r, t->n_brand);
            t->brand[j] = brand_in_leaf(s, t->leaf[k]);
        }
    }
}

/* An item of slots[a..b) by weight other than prev, or -1 after a few tries. */
static int32_t pick_item(synth *s, size_t a, size_t b, int32_t prev) {
    for (int tries = 0; tries < 8; tries++) {
        int32_t it = s->slots[pick(&s->r, s->slots, a, b)].id;
        if (it != prev) return it;
    }
    return -1;
}

static int32_t next_item(synth *s, const taste *t, int32_t prev) {
    uint32_t sum = 0, leaf = t->leaf[0];
    for (size_t k = 0; k < t->n_leaf; k++) sum += t->w[k];
    uint32_t x = (uint32_t)below(&s->r, sum);
    for (size_t k = 0; k < t->n_leaf; k++) {
        if (x < t->w[k]) {
            leaf = t->leaf[k];
            break;
        }
        x -= t->w[k];
    }
    size_t a = s->leaf_off[leaf], b = s->leaf_off[leaf + 1];
    int32_t it = -1;
    if (below(&s->r, 100) < BRAND_PERCENT) {
        uint32_t br = t->brand[below(&s->r, t->n_brand)];
        size_t lo = first_brand(s->slots, a, b, br), hi = first_brand(s->slots, lo, b, br + 1);
        if (lo < hi) it = pick_item(s, lo, hi, prev);
    }
    if (it < 0) it = pick_item(s, a, b, prev);
    while (it < 0 || it == prev) it = (int32_t)below(&s->r, s->n_items);
    return it;
}

static int make_users(synth *s, const lr_synth_config *cfg, lr_data_builder *b, lr_err *err) {
    /* min + a geometric count with mean (mean - min), cut at max: each further item comes
     * with chance extra / (extra + 1), drawn in integers to stay exact everywhere */
    size_t extra = cfg->mean_seq_len - cfg->min_seq_len;
    char token[24];
    for (size_t u = 0; u < cfg->users; u++) {
        int64_t idx;
        int len = snprintf(token, sizeof token, "u%zu", u);
        int rc = lr_data_builder_user(b, token, (size_t)len, &idx, err);
        if (rc) return rc;
        taste t;
        taste_init(s, &t);
        size_t n = cfg->min_seq_len;
        while (n < cfg->max_seq_len && below(&s->r, extra + 1) < extra) n++;
        int32_t prev = -1;
        for (size_t k = 0; k < n; k++) {
            if (uniform(&s->r) < cfg->drift) drift(s, &t);
            prev = s->seq[k] = next_item(s, &t, prev);
        }
        rc = lr_data_builder_sequence(b, s->seq, n, err);
        if (rc) return rc;
    }
    return LR_OK;
}

lr_synth_config lr_data_synth_config_default(void) {
    lr_synth_config c = {.items = 10000, .users = 5000, .seed = 1, .min_seq_len = 3,
                         .mean_seq_len = 8, .max_seq_len = 60, .drift = 0.08};
    return c;
}

static int check_config(const lr_synth_config *c, lr_err *err) {
    const char *what = "synthetic dataset config";
    if (c->items < 1000 || c->items > 1000000)
        return lr_err_set(err, LR_EINVAL, "%s: items is %zu; allowed 1000 to 1000000", what,
                          c->items);
    if (c->users < 1 || c->users > 10000000)
        return lr_err_set(err, LR_EINVAL, "%s: users is %zu; allowed 1 to 10000000", what,
                          c->users);
    if (c->min_seq_len < 3 || c->min_seq_len > 1000)
        return lr_err_set(err, LR_EINVAL, "%s: min_seq_len is %zu; allowed 3 to 1000", what,
                          c->min_seq_len);
    if (c->max_seq_len < c->min_seq_len || c->max_seq_len > 1000)
        return lr_err_set(err, LR_EINVAL,
                          "%s: max_seq_len is %zu; allowed min_seq_len (%zu) to 1000", what,
                          c->max_seq_len, c->min_seq_len);
    if (c->mean_seq_len < c->min_seq_len || c->mean_seq_len > c->max_seq_len)
        return lr_err_set(err, LR_EINVAL,
                          "%s: mean_seq_len is %zu; allowed min_seq_len (%zu) to max_seq_len (%zu)",
                          what, c->mean_seq_len, c->min_seq_len, c->max_seq_len);
    if (!(c->drift >= 0.0 && c->drift <= 1.0)) /* also rejects NaN */
        return lr_err_set(err, LR_EINVAL, "%s: drift is %g; allowed 0 to 1", what, c->drift);
    return LR_OK;
}

int lr_data_synth(const lr_synth_config *cfg, lr_data **out, lr_err *err) {
    if (out) *out = NULL;
    if (!cfg || !out)
        return lr_err_set(err, LR_EINVAL, "lr_data_synth: cfg and out must not be NULL");
    int rc = check_config(cfg, err);
    if (rc) return rc;
    synth s;
    memset(&s, 0, sizeof s);
    lr_data_builder b;
    memset(&b, 0, sizeof b);
    uint64_t seed = cfg->seed;
    for (int i = 0; i < 4; i++) s.r.s[i] = splitmix64(&seed);
    plan(&s, cfg->items);
    rc = synth_alloc(&s, cfg->max_seq_len, err);
    if (!rc) rc = lr_data_builder_init(&b, LR_DATA_SYNTHETIC, err);
    if (rc) goto done;
    build_tree(&s);
    build_brands(&s);
    rc = make_items(&s, &b, err);
    if (rc) goto done;
    index_items(&s);
    rc = make_users(&s, cfg, &b, err);
    if (!rc) rc = lr_data_builder_finish(&b, out, err);
done:
    if (rc) lr_data_builder_discard(&b); /* b.d is NULL after a successful finish */
    synth_free(&s);
    return rc;
}

//! Property tests of the whole deck: hostile label values and degenerate series must
//! still give a package that passes the lint, and the same input the same bytes.

use crate::pptx;
use crate::sample::hostile_deck;

#[test]
fn hostile_labels_and_degenerate_series_give_valid_decks() {
    for seed in 1..=6u64 {
        let nodes = [12usize, 0, 1, 3, 5, 9][seed as usize % 6];
        let bytes = hostile_deck(seed, nodes);
        let findings = pptx::lint::lint(&bytes);
        assert!(
            findings.is_empty(),
            "seed {seed}, {nodes} nodes: {findings:?}"
        );
        if seed == 1 {
            assert_eq!(
                bytes,
                hostile_deck(seed, nodes),
                "the same input, the same bytes"
            );
        }
    }
}

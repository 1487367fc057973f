//! One file per GraphQL type of the mobile schema, and the text and page
//! helpers they share.
//!
//! As in the web schema, types whose fields wait on at most one fetch
//! (`FeedItem`, `ProductCard`, `OrderSummary`) are `serial`: their fields
//! are awaited in turn, without a `FuturesUnordered` per object.
//! `UserSummary` (two fields on the users loader) and `Home` stay
//! concurrent so their fetches share a batch.

mod feed_item;
mod home;
mod order_summary;
mod product_card;
mod user_summary;

pub use self::{
    feed_item::FeedItem,
    home::Home,
    order_summary::{OrderStatus, OrderSummary},
    product_card::ProductCard,
    user_summary::UserSummary,
};

/// Longest `summary` the app draws (docs/contract.md §5), ellipsis included.
pub const SUMMARY_MAX_CHARS: usize = 100;

/// A client's `first` argument as a page size: over `max` (or negative) it
/// is a `BAD_USER_INPUT` error naming the maximum, never a silent cut.
pub(crate) fn page(first: i32, max: u32) -> async_graphql::Result<usize> {
    bff_core::errors::page_size(first, max)
}

/// Shortens `text` to at most [`SUMMARY_MAX_CHARS`] characters, cutting at
/// a word boundary and marking the cut with `…`. Whitespace runs collapse
/// to one space, so the phone never draws stray line breaks.
pub fn summarize(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let full = words.join(" ");
    if full.chars().count() <= SUMMARY_MAX_CHARS {
        return full;
    }
    let budget = SUMMARY_MAX_CHARS - 1; // room for the ellipsis
    let mut out = String::new();
    for word in &words {
        let extra = usize::from(!out.is_empty()) + word.chars().count();
        if out.chars().count() + extra > budget {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_empty() {
        // One word longer than the budget: no boundary to cut at.
        out = full.chars().take(budget).collect();
    }
    let trimmed = out.trim_end_matches(|c: char| c.is_ascii_punctuation() && c != '?' && c != '!');
    let mut out = if trimmed.is_empty() {
        out.clone()
    } else {
        trimmed.to_string()
    };
    out.push('…');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept() {
        assert_eq!(summarize("A  fine\nchair."), "A fine chair.");
    }

    #[test]
    fn long_text_is_cut_on_a_word_boundary() {
        let text = "word ".repeat(40);
        let s = summarize(&text);
        assert!(s.chars().count() <= SUMMARY_MAX_CHARS, "{s}");
        assert!(s.ends_with("word…"), "{s}");
        let long = format!("{} tail", "x".repeat(150));
        let s = summarize(&long);
        assert_eq!(s.chars().count(), SUMMARY_MAX_CHARS);
        let multibyte = "é".repeat(30) + " " + &"ü".repeat(80);
        let s = summarize(&multibyte);
        assert_eq!(s, format!("{}…", "é".repeat(30)));
    }

    #[test]
    fn trailing_punctuation_before_the_cut_goes() {
        let text = format!("{}, and then some more words follow here", "a".repeat(95));
        assert_eq!(summarize(&text), format!("{}…", "a".repeat(95)));
    }

    #[test]
    fn pages_over_their_maximum_are_refused() {
        assert_eq!(page(20, 20).unwrap(), 20);
        assert!(page(-3, 20).is_err());
        assert!(page(500, 20).is_err());
    }
}

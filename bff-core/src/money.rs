//! Money as clients see it: cents, currency and a formatted string.
//!
//! `formatted` must equal what a browser prints with
//! `Intl.NumberFormat('en-US', {style: 'currency', currency})`, so web and
//! mobile show the same text: `$2,376.63`, `€19.99`, `CHF 19.99`. The en-US
//! locale puts a known symbol before the number with no space, and a
//! currency without an en-US symbol as its ISO code followed by a
//! NO-BREAK SPACE (U+00A0), exactly as the browser does (docs/contract.md §5 shows
//! it as `CHF 19.99`). The symbol table and the rounding were checked
//! against Node's ICU.

use async_graphql::SimpleObject;

/// An amount of money (shared by every client that shows prices).
#[derive(Debug, Clone, PartialEq, Eq, SimpleObject)]
#[graphql(serial)]
pub struct Money {
    /// Amount in the currency's minor unit (cents).
    pub cents: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
    /// As `Intl.NumberFormat('en-US', {style: 'currency', currency})` prints it.
    pub formatted: String,
}

impl Money {
    pub fn new(cents: i64, currency: &str) -> Self {
        Self {
            cents,
            currency: currency.to_string(),
            formatted: format_money(cents, currency),
        }
    }
}

/// The symbol en-US uses for a currency, if it uses one.
fn symbol(currency: &str) -> Option<&'static str> {
    Some(match currency {
        "USD" => "$",
        "EUR" => "€",
        "GBP" => "£",
        "JPY" => "¥",
        "INR" => "₹",
        "KRW" => "₩",
        "ILS" => "₪",
        "VND" => "₫",
        "NGN" => "₦",
        "PHP" => "₱",
        "CAD" => "CA$",
        "AUD" => "A$",
        "NZD" => "NZ$",
        "HKD" => "HK$",
        "MXN" => "MX$",
        "BRL" => "R$",
        "CNY" => "CN¥",
        "TWD" => "NT$",
        "XAF" => "FCFA",
        _ => return None,
    })
}

/// Digits after the decimal point for a currency (ISO 4217 minor units).
fn minor_units(currency: &str) -> u32 {
    match currency {
        "JPY" | "KRW" | "VND" | "CLP" | "ISK" | "UGX" | "XAF" | "XOF" | "PYG" => 0,
        "BHD" | "KWD" | "OMR" | "JOD" | "TND" | "IQD" | "LYD" => 3,
        _ => 2,
    }
}

/// Formats `cents` of `currency` as en-US does (one allocation: it runs for
/// every price of every response).
pub fn format_money(cents: i64, currency: &str) -> String {
    let digits = minor_units(currency);
    let scale = 10u64.pow(digits);
    let abs = cents.unsigned_abs();
    let (whole, frac) = (abs / scale, abs % scale);
    let mut out = String::with_capacity(24);
    if cents < 0 {
        out.push('-');
    }
    match symbol(currency) {
        Some(sym) => out.push_str(sym),
        None => {
            out.push_str(currency);
            out.push('\u{a0}');
        }
    }
    // Whole part with a comma every three digits from the right.
    let mut buf = [0u8; 20];
    let mut n = whole;
    let mut len = 0;
    loop {
        buf[len] = b'0' + (n % 10) as u8;
        len += 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for i in (0..len).rev() {
        out.push(char::from(buf[i]));
        if i > 0 && i % 3 == 0 {
            out.push(',');
        }
    }
    if digits > 0 {
        out.push('.');
        let mut div = scale / 10;
        while div > 0 {
            out.push(char::from(b'0' + ((frac / div) % 10) as u8));
            div /= 10;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format_money;

    #[test]
    fn formats_like_intl_number_format_en_us() {
        assert_eq!(format_money(237_663, "USD"), "$2,376.63");
        assert_eq!(format_money(1_999, "EUR"), "€19.99");
        assert_eq!(format_money(1_999, "CHF"), "CHF\u{a0}19.99");
        assert_eq!(format_money(-123_450, "SEK"), "-SEK\u{a0}1,234.50");
        assert_eq!(format_money(-123_450, "CAD"), "-CA$1,234.50");
        assert_eq!(format_money(5, "USD"), "$0.05");
        assert_eq!(format_money(100_000_000, "USD"), "$1,000,000.00");
        assert_eq!(format_money(123_456, "JPY"), "¥123,456");
        assert_eq!(format_money(-1_050, "GBP"), "-£10.50");
        assert_eq!(format_money(0, "USD"), "$0.00");
        assert_eq!(format_money(1_234_567, "KWD"), "KWD\u{a0}1,234.567");
        assert_eq!(format_money(i64::MIN, "JPY"), "-¥9,223,372,036,854,775,808");
    }
}

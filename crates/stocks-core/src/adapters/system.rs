//! What the adapters take from the operating system: randomness for new tokens, and the time
//! as the stores keep it. The domain's rules ([`NewToken::issue`]) take both as arguments.

use chrono::{DateTime, SubsecRound, Utc};

use crate::domain::{NewToken, Token, TokenRecord};

/// A token for `new` from the operating system's random source, created now.
pub fn issue_token(new: &NewToken) -> (Token, TokenRecord) {
    new.issue(random_bytes(), now_millis())
}

/// The time, to the millisecond the stores keep.
pub fn now_millis() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(3)
}

#[expect(
    clippy::expect_used,
    reason = "getrandom(2) cannot fail on Linux once the kernel's pool is initialised, which it is by the time any process of ours runs"
)]
fn random_bytes() -> [u8; 32] {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system has a random source");
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_are_tokens_and_differ() {
        let new = NewToken::new("ci", 60).unwrap();
        let ((a, record), (b, _)) = (issue_token(&new), issue_token(&new));
        assert_eq!(Token::parse(a.reveal()), Ok(a.clone()));
        assert_ne!(a, b);
        assert_eq!(record.created_at, record.created_at.trunc_subsecs(3));
    }
}

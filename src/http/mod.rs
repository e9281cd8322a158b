//! The HTTP surface: the request as the filter sees it (method, host, path,
//! cookies, client address), URLs and query strings, and everything the
//! filter answers itself (pages, JSON, redirects, the cookies it sets).
//! Nothing here knows about OpenID Connect.

pub mod cookie;
pub mod ip;
pub mod pages;
pub mod path;
pub mod request;
pub mod respond;
pub mod url;

"""The Kakao i Open Builder protocol: decoding skill requests (`request`) and building valid
replies (`reply`, within the limits of `limits`, long text split by `pages`)."""

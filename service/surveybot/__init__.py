"""surveybot: a KakaoTalk survey bot served as a Kakao i Open Builder skill."""

module surveybot/loadtest/go_echo

go 1.19

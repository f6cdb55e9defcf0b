// The study's replacement stack: a Go net/http skill that replies the utterance in a simpleText.
//
//	cd loadtest/baselines/go_echo && go build -o /tmp/go_echo . && /tmp/go_echo -addr 127.0.0.1:8090
//
// Standard library only (encoding/json, net/http), as a first Go port of the Flask echo would be.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"
)

type skillRequest struct {
	UserRequest struct {
		Utterance string `json:"utterance"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
	} `json:"userRequest"`
}

type simpleText struct {
	Text string `json:"text"`
}

type output struct {
	SimpleText simpleText `json:"simpleText"`
}

type template struct {
	Outputs []output `json:"outputs"`
}

type skillReply struct {
	Version  string   `json:"version"`
	Template template `json:"template"`
}

func skill(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	var req skillRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	text := req.UserRequest.Utterance
	if text == "" {
		text = "(빈 메시지)"
	}
	reply := skillReply{Version: "2.0", Template: template{Outputs: []output{{SimpleText: simpleText{Text: text}}}}}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if err := json.NewEncoder(w).Encode(reply); err != nil {
		log.Printf("write: %v", err)
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address (keep it on loopback)")
	flag.Parse()
	mux := http.NewServeMux()
	mux.HandleFunc("/skill", skill)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	log.Printf("go echo skill on http://%s/skill", *addr)
	log.Fatal(http.ListenAndServe(*addr, mux))
}

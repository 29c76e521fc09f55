/*
 * The Pinggy-protocol stand-in: a server for Pinggy's real CLI on libpinggy's server mode (protocol::Session).
 *
 * One process, one poll loop. It accepts TLS on --listen (self-signed for a.pinggy.io; the real client checks no
 * certificate), speaks Pinggy's protocol, and for every tunnel it grants opens a visitor port on 127.0.0.1 whose
 * connections it carries down the session as channels: pinggy-edge routes visitors there, exactly as it does for the
 * OpenSSH stand-in, by reading the session records this server writes under STATE/records.
 *
 * What it knows and does (the knobs are read at each login from STATE/settings.json, overridden per token by
 * STATE/tokens/TOKEN.json; a token is known when that file exists):
 *   - an unknown token, or a token that is live or within its release lag without +force, is refused;
 *   - +force ends the token's live session and takes over;
 *   - release_lag: the token stays held that long after its client left;
 *   - banner_delay: the answer that carries the URLs comes that late (a slow server);
 *   - session_limit: every session ends after that long, from the server's side;
 *   - STATE/control/drop-TOKEN (written by `pinggy-protocol-standin drop`): the token's session ends now;
 *   - --max-logins N:S: a connection beyond N in S seconds is closed before TLS (a throttled burst);
 *   - domains, as a Pro token has them (`subdomain`, `domains` in STATE/tokens/TOKEN.json, the OpenSSH stand-in's
 *     names): the CLI sends `-R<domain>:0:host:port` as a forwarding request of its own whose listening host is
 *     the domain; it gets the URLs http://DOMAIN and https://DOMAIN and a visitor port of its own (the record's
 *     `routes` say which), and a domain the token does not own is refused. A persistent subdomain replaces the
 *     random host of the default forwarding. Every answer carries all the session's URLs, and the answers wait a
 *     moment for every forwarding the client asks at once: libpinggy 0.1.7's client announces the URLs of the
 *     last answer (Sdk::HandleSessionRemoteForwardingSucceeded passes its parameter, not the URLs it kept), so an
 *     answer with only its own forwarding's URLs hid the others, and one without any left the CLI with none.
 * A refusal cannot travel as a failed authentication: libpinggy 0.1.7's Session::AuthenticationFailed sends a null
 * TunnelInfo that the serializer dereferences. It is sent as the answer to the tunnel request instead (the
 * request's error text), and the connection is closed.
 *
 * usage: pinggy-protocol-server --state DIR --listen HOST:PORT [--max-logins N:S]
 */

#include <ChannelConnectionForwarder.hh>
#include <Session.hh>
#include <net/ConnectionListener.hh>
#include <net/SslConnectionListener.hh>
#include <poll/PinggyPollLinux.hh>
#include <utils/StringUtils.hh>
#include <utils/Json.hh>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <dirent.h>
#include <fstream>
#include <iostream>
#include <map>
#include <signal.h>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using protocol::ChannelPtr;
using protocol::SessionPtr;
using protocol::tReqId;

const char *DOMAIN = ".a.pinggy.link";
const char *SAME_TOKEN = "Login is not allowed: A tunnel with the same token %s is already active.";
const char *UNKNOWN_TOKEN = "Authentication failed: the token %s is not valid.";
const char *DROPPED = "Tunnel closed by the server (session dropped); the next login gets a new URL.";
const char *EXPIRED = "Tunnel closed by the server: the session reached its time limit.";
const char *TAKEN_OVER = "Tunnel closed: a new session with the same token took over (+force).";
const char *UNOWNED_DOMAIN = "Login is not allowed: the domain %s is not associated with this token (add it to the "
                             "token on the dashboard, or forward only domains it owns).";

std::string stateDir;
common::PollControllerPtr poller;

double now() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void say(const std::string &line) {
    char stamp[32];
    time_t t = time(nullptr);
    strftime(stamp, sizeof stamp, "%H:%M:%S", gmtime(&t));
    std::cout << stamp << " " << line << std::endl;
}

std::string format(const char *pattern, const std::string &value) {
    char buffer[512];
    snprintf(buffer, sizeof buffer, pattern, value.c_str());
    return buffer;
}

json readJson(const std::string &path) {
    std::ifstream in(path);
    if (!in)
        return json::object();
    try {
        return json::parse(in);
    } catch (...) {
        return json::object();
    }
}

/* Every session that ended, kept for the server's life rather than freed: a visitor's channel still closing when its
 * session ended calls back into that session from a timer (libpinggy 0.1.7's Channel::closeTimeoutTriggered locks a
 * weak pointer it does not check), and a freed one crashed the server (visitors through the edge during a takeover).
 * A test server's few hundred sessions are cheap to keep. */
std::vector<SessionPtr> endedSessions;

bool exists(const std::string &path) {
    struct stat st;
    return stat(path.c_str(), &st) == 0;
}

void writeJson(const std::string &path, const json &value) {
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp);
        out << value.dump(2) << "\n";
    }
    rename(tmp.c_str(), path.c_str());
}

struct Settings {
    double releaseLag = 0, bannerDelay = 0, sessionLimit = 0;
    std::string subdomain;             // a Pro token's persistent subdomain ("": a random host per session)
    std::vector<std::string> domains;  // the custom domains it may forward
};

std::string lower(std::string s);

Settings settingsFor(const std::string &token) {
    Settings s;
    for (auto &source : {readJson(stateDir + "/settings.json"), readJson(stateDir + "/tokens/" + token + ".json")}) {
        if (source.contains("release_lag") && source["release_lag"].is_number())
            s.releaseLag = source["release_lag"];
        if (source.contains("banner_delay") && source["banner_delay"].is_number())
            s.bannerDelay = source["banner_delay"];
        if (source.contains("session_limit") && source["session_limit"].is_number())
            s.sessionLimit = source["session_limit"];
    }
    auto own = readJson(stateDir + "/tokens/" + token + ".json");
    if (own.contains("subdomain") && own["subdomain"].is_string())
        s.subdomain = lower(own["subdomain"].get<std::string>());
    if (own.contains("domains") && own["domains"].is_array())
        for (auto &domain : own["domains"])
            if (domain.is_string())
                s.domains.push_back(lower(domain.get<std::string>()));
    return s;
}

bool knownToken(const std::string &token) {
    return token.find('/') == std::string::npos && token[0] != '.' && exists(stateDir + "/tokens/" + token + ".json");
}

std::string lower(std::string s) {
    for (auto &c : s)
        c = tolower(c);
    return s;
}

class Tunnel;
DeclareSharedPtr(Tunnel);

std::map<std::string, Tunnel *> liveByToken;   // the session that holds each token
std::map<std::string, double> heldUntil;       // tokens held after their session ended (release lag)
tForwardingId lastForwardingId = 0;
int sessionCount = 0;

class Tunnel : public protocol::SessionEventHandler, public net::ConnectionListenerHandler {
public:
    Tunnel(net::NetworkConnectionPtr conn, std::string client) : conn(conn), client(client) {
        number = ++sessionCount;
    }

    void Begin() {
        conn->SetPollController(poller);
        session = protocol::NewSessionPtr(conn, poller, true);
        session->SetEnablePinggyValueMode(true);
        session->Start(thisPtr);
        self = thisPtr;  // alive until the session ends
    }

    // -- the login ---------------------------------------------------------------------------------------------
    bool HandleSessionAuthenticationRequest(tString username, tString arguments, bool) override {
        user = username;
        rawArguments = arguments;
        try {
            options = ShlexSplitString(arguments);
        } catch (...) {
            options = {arguments};
        }
        for (auto &part : SplitString(username, "+")) {
            if (lower(part) == "force")
                force = true;
            else if (!part.empty() && token.empty())
                token = part;
        }
        settings = settingsFor(token);
        if (!token.empty() && !knownToken(token)) {
            refusal = format(UNKNOWN_TOKEN, token);
        } else if (!token.empty() && !force && (liveByToken.count(token) || heldUntil[token] > now())) {
            refusal = format(SAME_TOKEN, token);
        } else if (!token.empty()) {
            if (liveByToken.count(token))
                liveByToken[token]->Finish("kicked", "kicked", TAKEN_OVER, 0);
            liveByToken[token] = this;
        }
        started = now();
        say("login " + std::to_string(number) + " user=" + user + " from " + client +
            (refusal.empty() ? "" : " refused: " + refusal));
        auto info = NewTunnelInfoPtr();
        info->PortConfig = NewSpecialPortConfigPtr();
        session->AuthenticationSucceeded({}, info);
        return true;
    }

    void HandleSessionRemoteForwardRequest(tReqId reqId, tPort listeningPort, tString listeningHost,
                                           tPort forwardingPort, tString forwardingHost, TunnelMode mode) override {
        std::string domain = lower(listeningHost);
        if (domain == "localhost" || domain == "0.0.0.0" || domain == "127.0.0.1")
            domain.clear();  // the default forwarding (`-R0:…`), whatever the client calls "anywhere"
        if (refusal.empty() && !domain.empty() && !Owns(domain)) {
            refusal = format(UNOWNED_DOMAIN, domain);
            if (liveByToken.count(token) && liveByToken[token] == this)
                liveByToken.erase(token);  // refused before it took the token: nothing to release
            endReason = "domain";
        }
        if (!refusal.empty()) {
            status = "refused";
            if (endReason.empty())
                endReason = "refused";
            ended = now();
            WriteRecord();
            session->RejectRemoteForwardRequest(reqId, refusal);
            closeTask = poller->SetTimeout(500 * MILLISECOND, self, &Tunnel::Close);
            return;
        }
        auto listener = net::NewConnectionListenerImplPtr("127.0.0.1", 0);
        if (!listener->StartListening()) {
            session->RejectRemoteForwardRequest(reqId, "the stand-in could not open a visitor port");
            return;
        }
        listener->RegisterListenerHandler(poller, thisPtr, 8);
        Forward forward;
        forward.listener = listener;
        forward.id = ++lastForwardingId;
        forward.mode = mode;
        forward.bindPort = listeningPort;
        forward.bindHost = listeningHost;
        forward.to = forwardingHost + ":" + std::to_string(forwardingPort);
        tPort port = listener->GetListeningPort();
        // A name of the session's own, as Pinggy's are, never the token (tunnelctl hides the token wherever it
        // appears); the port in it tells tests and the edge's log which visitor port serves it.
        char label[16];
        snprintf(label, sizeof label, "%08x", (unsigned)random());
        std::string host = !domain.empty() ? domain
                           : !settings.subdomain.empty() ? settings.subdomain + DOMAIN
                           : std::string(label) + "-p" + std::to_string(port) + DOMAIN;
        routes[host] = port;
        if (mode == TunnelMode::HTTP || mode == TunnelMode::None)
            forward.urls = {"http://" + host, "https://" + host};
        else
            forward.urls = {TunnelTypeFromTunnelMode(mode) + "://" + host + ":" + std::to_string(port)};
        forwards[port] = forward;
        ports.push_back(port);
        for (auto &url : forward.urls)
            urls.push_back(url);
        status = "active";
        if (settings.bannerDelay > 0)
            WriteRecord();  // the session is on; its answer is what comes late (else the record says so with it)
        pendingAnswers.push_back({reqId, port});
        if (!answerTask)  // the client asks for all its forwardings at once: answer them together
            answerTask = poller->SetTimeout((tDuration)(std::max(settings.bannerDelay, 0.05) * SECOND), self,
                                            &Tunnel::Answer);
        if (settings.sessionLimit > 0 && !limitTask)
            limitTask = poller->SetTimeout((tDuration)(settings.sessionLimit * SECOND), self, &Tunnel::Expire);
    }

    void Answer() {
        answerTask = nullptr;
        WriteRecord();
        for (auto &[reqId, port] : pendingAnswers) {
            auto &forward = forwards[port];
            auto binding = NewRemoteForwardingPtr();
            binding->Mode = forward.mode;
            binding->ForwardTo = forward.to;
            binding->RemoteBindings = forward.urls;
            session->AcceptRemoteForwardRequest(reqId, forward.id, urls, {binding});
            say("tunnel " + std::to_string(number) + " " + JoinString(forward.urls, " ") + " -> " + forward.to);
        }
        pendingAnswers.clear();
    }

    /* Whether the token owns `domain`: one of its custom domains, or its persistent subdomain's host. */
    bool Owns(const std::string &domain) const {
        for (auto &owned : settings.domains)
            if (owned == domain)
                return true;
        return !settings.subdomain.empty() && domain == settings.subdomain + DOMAIN;
    }

    void Expire() {
        limitTask = nullptr;
        Finish("dropped", "expired", EXPIRED, 0);
    }

    // -- visitors ------------------------------------------------------------------------------------------------
    void NewVisitor(net::NetworkConnectionPtr visitor) override {
        auto local = visitor->GetLocalAddress();
        auto peer = visitor->GetPeerAddress();
        auto found = local ? forwards.find(local->GetPort()) : forwards.end();
        if (!session || found == forwards.end() || !pendingAnswers.empty()) {
            visitor->CloseConn();
            return;
        }
        auto &forward = found->second;
        auto channel = session->CreateServerSideChannel(forward.bindPort, forward.bindHost,
                                                        peer ? peer->GetPort() : 0, peer ? peer->GetIp() : "",
                                                        protocol::ChannelType_Stream, forward.mode, forward.id);
        visitor->SetPollController(poller);
        visitors.push_back(visitor);
        protocol::NewChannelConnectionForwarderPtr(channel, visitor, nullptr)->Start();
    }

    // -- the end -------------------------------------------------------------------------------------------------
    void HandleSessionDisconnection(tString reason) override {
        Finish("closed", "client-disconnected", "", settings.releaseLag);
    }

    void HandleSessionConnectionReset() override {
        connectionGone = true;  // the session cleans up after itself
        Finish("closed", "client-disconnected", "", settings.releaseLag);
    }

    void HandleSessionError(tUint32, tString what, tBool) override { say("client error: " + what); }
    void HandleSessionWarning(tUint32, tString what) override { say("client warning: " + what); }
    void HandleSessionNewChannelRequest(ChannelPtr channel) override { channel->Reject("not offered by the stand-in"); }
    void HandleSessionUsages(ClientSpecificUsagesPtr) override {}

    /* The session is over: `how` becomes the record's status, `why` its end_reason; `words` (if any) go to the
     * client as the server's disconnect reason; the token stays held `lag` seconds. */
    void Finish(std::string how, std::string why, std::string words, double lag) {
        if (finished)
            return;
        finished = true;
        if (!token.empty() && liveByToken.count(token) && liveByToken[token] == this) {
            liveByToken.erase(token);
            heldUntil[token] = now() + lag;
        }
        if (status != "refused") {
            status = how;
            endReason = why;
            ended = now();
            released = lag > 0 ? ended + lag : ended;
            WriteRecord();
        }
        say("end " + std::to_string(number) + " " + how + " (" + why + ")");
        for (auto &[port, forward] : forwards)
            forward.listener->CloseConn();
        forwards.clear();
        for (auto &visitor : visitors)
            visitor->CloseConn();
        visitors.clear();
        for (auto task : {answerTask, limitTask})
            if (task)
                task->DisArm();
        // Never released here: this may run inside a callback of the session, which goes on using itself.
        if (session && !connectionGone && !words.empty()) {
            session->End(words);
            closeTask = poller->SetTimeout(1 * SECOND, self, &Tunnel::Close);
        } else {
            closeTask = poller->SetTimeout(1 * MILLISECOND, self, &Tunnel::Close);
        }
    }

    /* From the poll loop only (a timer), never from within a session callback. */
    void Close() {
        if (!finished)
            return Finish("closed", "client-disconnected", "", settings.releaseLag);
        if (session && !connectionGone)
            session->Cleanup();
        if (session)
            endedSessions.push_back(session);
        session = nullptr;
        self = nullptr;
    }

    void CheckControl() {
        if (finished || token.empty())
            return;
        std::string drop = stateDir + "/control/drop-" + token;
        if (exists(drop) && status == "active") {
            unlink(drop.c_str());
            Finish("dropped", "dropped", DROPPED, 0);
        }
    }

    void WriteRecord() {
        if (recordName.empty()) {
            char stamp[32];
            time_t t = time(nullptr);
            strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", gmtime(&t));
            recordName = (token.empty() ? "anon" : token) + "-" + stamp + "-" + std::to_string(number) + ".json";
        } else if (!exists(stateDir + "/records/" + recordName)) {
            return;  // cleared meanwhile: not recreated
        }
        char iso[32];
        time_t start = (time_t)started;
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", gmtime(&start));
        json record = {
            {"user", user}, {"token", token.empty() ? json(nullptr) : json(token)}, {"force", force},
            {"options", options}, {"raw_command", rawArguments}, {"ports", ports},
            {"port", ports.empty() ? json(nullptr) : json(ports[0])}, {"urls", urls}, {"routes", routes},
            {"status", status},
            {"end_reason", endReason.empty() ? json(nullptr) : json(endReason)},
            {"refusal", refusal.empty() ? json(nullptr) : json(refusal)},
            {"token_released", released > 0 ? json(released) : json(nullptr)},
            {"settings", {{"release_lag", settings.releaseLag}, {"banner_delay", settings.bannerDelay},
                          {"session_limit", settings.sessionLimit}}},
            {"time", started}, {"time_iso", iso}, {"ended", ended > 0 ? json(ended) : json(nullptr)},
            {"pid", getpid()}, {"session", number}, {"client", client}, {"record", recordName}};
        writeJson(stateDir + "/records/" + recordName, record);
    }

    DefineMandatoryClassFunctionsWOSuper(Tunnel);

private:
    struct Forward {
        net::ConnectionListenerPtr listener;
        tForwardingId id = 0;
        TunnelMode mode = TunnelMode::HTTP;
        tPort bindPort = 0;
        std::string bindHost, to;
        std::vector<std::string> urls;
    };

    net::NetworkConnectionPtr conn;
    SessionPtr session;
    TunnelPtr self;
    std::string client, user, token, rawArguments, refusal, status, endReason, recordName;
    std::vector<std::string> options, urls;
    std::vector<tPort> ports;
    std::map<tPort, Forward> forwards;
    // Visitors' connections carried down this session: closed when it ends, as its tunnel is gone (else a visitor's
    // request in flight when the session was taken over or dropped hung until the visitor gave up).
    std::vector<net::NetworkConnectionPtr> visitors;
    std::map<std::string, tPort> routes;  // each host of the session → the visitor port that serves it
    std::vector<std::pair<tReqId, tPort>> pendingAnswers;
    common::PollableTaskPtr answerTask, limitTask, closeTask;
    Settings settings;
    bool force = false, finished = false, connectionGone = false;
    double started = 0, ended = 0, released = 0;
    int number = 0;
};
DefineMakeSharedPtr(Tunnel);

std::vector<std::weak_ptr<Tunnel>> tunnels;

class Front : public net::ConnectionListenerHandler, public net::SslAcceptEventHandler {
public:
    Front(net::SslConnectionListenerPtr tls, int maxLogins, double window)
        : tls(tls), maxLogins(maxLogins), window(window) {}

    void NewVisitor(net::NetworkConnectionPtr conn) override {
        double t = now();
        while (!recent.empty() && recent.front() < t - window)
            recent.pop_front();
        if (maxLogins > 0 && (int)recent.size() >= maxLogins) {
            say("throttled a connection from " + Peer(conn));
            conn->CloseConn();
            return;
        }
        recent.push_back(t);
        conn->SetPollController(poller);
        tls->AcceptSslAsync(conn);
    }

    void HandleAcceptedSslConnection(net::SslNetworkConnectionPtr conn, pinggy::VoidPtr) override {
        auto tunnel = NewTunnelPtr(conn, Peer(conn));
        tunnels.push_back(tunnel);
        tunnel->Begin();
    }

    void CheckControl() {
        std::vector<std::weak_ptr<Tunnel>> alive;
        for (auto &weak : tunnels)
            if (auto tunnel = weak.lock()) {
                tunnel->CheckControl();
                alive.push_back(weak);
            }
        tunnels.swap(alive);
    }

    static std::string Peer(net::NetworkConnectionPtr conn) {
        auto peer = conn->GetPeerAddress();
        return peer ? peer->GetIp() + ":" + std::to_string(peer->GetPort()) : "?";
    }

    DefineMandatoryClassFunctionsWOSuper(Front);

private:
    net::SslConnectionListenerPtr tls;
    int maxLogins;
    double window;
    std::deque<double> recent;
};
DefineMakeSharedPtr(Front);

int usage() {
    std::cerr << "usage: pinggy-protocol-server --state DIR --listen HOST:PORT [--max-logins N:S]" << std::endl;
    return 2;
}

}  // namespace

int main(int argc, char **argv) {
    std::string listen;
    int maxLogins = 0;
    double window = 1;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--state")
            stateDir = value;
        else if (flag == "--listen")
            listen = value;
        else if (flag == "--max-logins" && sscanf(value.c_str(), "%d:%lf", &maxLogins, &window) == 2)
            continue;
        else
            return usage();
    }
    auto colon = listen.rfind(':');
    if (stateDir.empty() || colon == std::string::npos)
        return usage();
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)(getpid() ^ time(nullptr)));
    SetGlobalLogEnable(false);
    for (auto sub : {"/records", "/tokens", "/control"})
        mkdir((stateDir + sub).c_str(), 0755);

    poller = common::NewPollControllerLinuxPtr();
    auto plain = net::NewConnectionListenerImplPtr(listen.substr(0, colon), (tPort)std::stoi(listen.substr(colon + 1)));
    auto tls = net::NewSslConnectionListenerPtr(plain);
    tls->InitiateSSLSelfSigned("a.pinggy.io");
    if (!tls->StartListening()) {
        std::cerr << "pinggy-protocol-server: cannot listen on " << listen << std::endl;
        return 1;
    }
    auto front = NewFrontPtr(tls, maxLogins, window);
    tls->RegisterAcceptSslHandler(poller, front, false);
    plain->RegisterListenerHandler(poller, front, 16);
    poller->SetInterval(100 * MILLISECOND, front, &Front::CheckControl);
    say("listening on " + listen + " (TLS), state " + stateDir);
    poller->StartPolling();
    return 0;
}

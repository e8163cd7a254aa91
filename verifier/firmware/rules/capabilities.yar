// Capabilities provcheck looks for in firmware: strings that suggest a shell, a backdoor or embedded secrets.
// A match is a fact; it becomes a failure only when the declared manifest or the baseline did not have it.

rule shell_path
{
    meta:
        description = "path of a command shell"
    strings:
        $sh = "/bin/sh" ascii wide
        $bash = "/bin/bash" ascii wide
        $busybox_sh = "/bin/busybox sh" ascii
        $cmd = "cmd.exe" ascii wide nocase
        $powershell = "powershell" ascii wide nocase
    condition:
        any of them
}

rule reverse_shell
{
    meta:
        description = "command line of a reverse or bind shell"
    strings:
        $nc_e = /\bnc(at)? [^\x00]{0,40}-e \/bin\/(ba)?sh/ ascii
        $dev_tcp = "/dev/tcp/" ascii
        $telnetd = /telnetd[^\x00]{0,20}-l ?\/bin\/(ba)?sh/ ascii
        $mkfifo = /mkfifo [^\x00]{0,40}\/bin\/(ba)?sh/ ascii
    condition:
        any of them
}

rule private_key
{
    meta:
        description = "PEM or OpenSSH private key"
    strings:
        $pem = /-----BEGIN (RSA |EC |DSA |ENCRYPTED |OPENSSH )?PRIVATE KEY-----/ ascii
    condition:
        $pem
}

rule hardcoded_credential
{
    meta:
        description = "credential assignment or password hash"
    strings:
        $assign = /(passw(or)?d|passwd|secret|api_?key|token)\s*[=:]\s*["'][^"'\x00]{4,64}["']/ ascii nocase
        $shadow = /\b(root|admin):\$(1|5|6|y)\$[.\/A-Za-z0-9]{2,16}\$[.\/A-Za-z0-9]{8,}/ ascii
    condition:
        any of them
}

rule download_and_run
{
    meta:
        description = "fetch-and-execute command line"
    strings:
        $curl_sh = /(curl|wget) [^\x00]{1,120}\| ?(ba)?sh/ ascii
        $chmod_x = /chmod \+x [^\x00]{1,80}; ?\.\// ascii
    condition:
        any of them
}

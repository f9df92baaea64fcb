"""Write the format samples in this folder from one call. Run: python tests/data/formats/generate.py"""

import codecs
import csv
import json
from pathlib import Path

HERE = Path(__file__).parent

# A phone-bill complaint: (role, text, start s, end s).
CALL = [
    ("agent", "您好,工号5106为您服务,请问有什么可以帮您?", 0.34, 2.37),
    ("customer", "你好,我这个月话费怎么多扣了三十块钱?", 2.9, 6.1),
    ("agent", "请问您的手机号码是多少?我帮您查询一下。", 6.5, 9.2),
    ("customer", "13800138000。", 9.6, 11.0),
    ("agent", "非常理解您的心情,我查到您本月开通了一个视频会员,每月三十元。", 13.4, 18.8),
    ("customer", "我根本没开过这个,你们这是乱扣费。", 19.2, 22.5),
    ("agent", "给您带来不便非常抱歉,我现在帮您退订,并申请退还三十元,3个工作日内退回您的账户。", 23.0, 30.1),
    ("customer", "好的,那就这样吧。", 30.5, 32.0),
    ("agent", "请问还有什么可以帮您的吗?", 32.3, 34.0),
    ("customer", "没有了,谢谢。", 34.2, 35.4),
    ("agent", "不客气,感谢您的来电,再见。", 35.6, 37.5),
]
LABEL = {"agent": "客服", "customer": "客户"}


def clock(seconds: float, sep: str) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{int(secs):02d}{sep}{round((secs % 1) * 1000):03d}"


def dump(name: str, data: object) -> None:
    (HERE / name).write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def main() -> None:
    ms = lambda seconds: round(seconds * 1000)  # noqa: E731
    dump("generic.json", [{"speaker": LABEL[r], "text": t, "start": s, "end": e} for r, t, s, e in CALL])
    (HERE / "generic.jsonl").write_text(
        "".join(
            json.dumps({"role": LABEL[r], "text": t, "start_ms": ms(s), "end_ms": ms(e)}, ensure_ascii=False) + "\n"
            for r, t, s, e in CALL
        ),
        encoding="utf-8",
    )
    # Alibaba Cloud file ASR; channel 1 is the agent (roles must be inferred).
    dump(
        "aliyun.json",
        {
            "TaskId": "b1f0c8a2e5d64f3c9a7e",
            "StatusCode": 21050000,
            "StatusText": "SUCCESS",
            "Result": {
                "Sentences": [
                    {
                        "EndTime": ms(e),
                        "SilenceDuration": 0,
                        "BeginTime": ms(s),
                        "Text": t,
                        "ChannelId": 1 if r == "agent" else 0,
                        "SpeechRate": 210,
                        "EmotionValue": 6.5,
                    }
                    for r, t, s, e in CALL
                ]
            },
        },
    )
    dump(
        "tencent.json",
        {
            "Response": {
                "Data": {
                    "TaskId": 1234567,
                    "Status": 2,
                    "StatusStr": "success",
                    "Result": "",
                    "ResultDetail": [
                        {
                            "FinalSentence": t,
                            "SliceSentence": t,
                            "StartMs": ms(s),
                            "EndMs": ms(e),
                            "WordsNum": len(t),
                            "SpeechSpeed": 4.2,
                            "SpeakerId": 0 if r == "agent" else 1,
                            "EmotionalEnergy": 0,
                        }
                        for r, t, s, e in CALL
                    ],
                },
                "RequestId": "3c140219-cfe9-470e-b241-907877d6fb03",
            }
        },
    )
    dump(
        "funasr.json",
        [
            {
                "key": "call_0001",
                "text": "".join(t for _, t, _, _ in CALL),
                "sentence_info": [
                    {"text": t, "start": ms(s), "end": ms(e), "spk": 0 if r == "agent" else 1} for r, t, s, e in CALL
                ],
            }
        ],
    )
    dump(
        "whisper.json",
        {
            "text": "".join(t for _, t, _, _ in CALL),
            "language": "zh",
            "segments": [
                {"id": i, "seek": 0, "start": s, "end": e, "text": t, "avg_logprob": -0.21, "no_speech_prob": 0.01}
                for i, (_, t, s, e) in enumerate(CALL)
            ],
        },
    )
    (HERE / "call.srt").write_text(
        "".join(
            f"{i}\n{clock(s, ',')} --> {clock(e, ',')}\n{LABEL[r]}:{t}\n\n" for i, (r, t, s, e) in enumerate(CALL, 1)
        ),
        encoding="utf-8",
    )
    (HERE / "call.vtt").write_text(
        "WEBVTT\n\nNOTE 话费争议来电,坐席侧录音\n\n"
        + "".join(
            f"{i}\n{clock(s, '.')} --> {clock(e, '.')}\n<v {LABEL[r]}>{t}</v>\n\n"
            for i, (r, t, s, e) in enumerate(CALL, 1)
        ),
        encoding="utf-8",
    )
    with (HERE / "call.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["序号", "说话人", "开始时间", "结束时间", "内容"])
        writer.writerows([i, LABEL[r], f"{s:.2f}", f"{e:.2f}", t] for i, (r, t, s, e) in enumerate(CALL, 1))
    (HERE / "call.tsv").write_text(
        "speaker\tstart_ms\tend_ms\ttext\n"
        + "".join(f"{'A' if r == 'agent' else 'B'}\t{ms(s)}\t{ms(e)}\t{t}\n" for r, t, s, e in CALL),
        encoding="utf-8",
    )
    text = "".join(f"{LABEL[r]}:{t}\n" for r, t, _, _ in CALL)
    (HERE / "gb18030.txt").write_bytes(text.replace("\n", "\r\n").encode("gb18030"))
    (HERE / "utf16.txt").write_bytes(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    # As in the seed document: a label decoded with the wrong codec, and two turns on one line.
    lines = text.splitlines()
    lines[9] += lines.pop(10)
    lines[4] = (
        "客服人員:非常理解您的心情".encode().decode("gbk", errors="replace") + ",我查到您本月开通了一个视频会员。"
    )
    (HERE / "mojibake.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

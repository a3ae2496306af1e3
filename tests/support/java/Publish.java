// A jail connector on the Java client (org.apache.kafka:kafka-clients, the embedded broker's
// own jar): each line of standard input is "topic<TAB>partition<TAB>key<TAB>value", partition
// "-" for the client's default partitioner (murmur2), a number to pin the record there. Sends
// every line with acks=all, flushes, prints "sent N" and exits 0; any failure exits 1.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Future;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

public class Publish {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("acks", "all");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        List<Future<RecordMetadata>> sent = new ArrayList<>();
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            BufferedReader in = new BufferedReader(
                new InputStreamReader(System.in, StandardCharsets.UTF_8));
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) continue;
                String[] parts = line.split("\t", 4);
                Integer partition = parts[1].equals("-") ? null : Integer.valueOf(parts[1]);
                String key = parts[2].isEmpty() ? null : parts[2];
                sent.add(producer.send(new ProducerRecord<>(parts[0], partition, key, parts[3])));
            }
            producer.flush();
            for (Future<RecordMetadata> future : sent) {
                RecordMetadata meta = future.get();
                System.out.println(meta.topic() + "\t" + meta.partition() + "\t" + meta.offset());
            }
        }
        System.out.println("sent " + sent.size());
    }
}
